using System.CommandLine;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator status &lt;id&gt;</c>: a task's aggregated result so far.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var id = CommonOptions.TaskId();
        var json = CommonOptions.Json();
        var command = new Command("status", "Show a task's status and aggregated result") { id, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var task = await connection.Client.GetAsync(parse.GetValue(id)!);
            IReadOnlyList<WebhookDelivery> deliveries = task.NotifyUrl is null ? [] : await connection.Client.GetDeliveriesAsync(task.TaskId);
            Render.Result(task, parse.GetValue(json), deliveries);
            return 0;
        });
        return command;
    }
}

/// <summary><c>orchestrator logs &lt;id&gt; [--follow]</c>: the log lines of a task and its subtasks.</summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var id = CommonOptions.TaskId();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until the task is final" };
        var json = CommonOptions.Json();
        var command = new Command("logs", "Print a task's logs") { id, follow, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var taskId = parse.GetValue(id)!;
            var entries = new List<LogEntry>();
            if (parse.GetValue(follow))
            {
                await foreach (var update in connection.Client.WatchAsync(taskId, cancellationToken))
                {
                    if (!parse.GetValue(json))
                    {
                        Render.LogLines(AnsiConsole.Console, update.Logs);
                    }

                    entries.AddRange(update.Logs);
                }
            }
            else
            {
                var page = await connection.Client.GetLogsAsync(taskId);
                entries.AddRange(page.Entries);
                if (!parse.GetValue(json))
                {
                    Render.LogLines(AnsiConsole.Console, entries);
                }
            }

            if (parse.GetValue(json))
            {
                Render.Json(new JsonArray(entries.Select(e => (JsonNode?)new JsonObject
                {
                    ["task_id"] = e.TaskId,
                    ["source"] = e.Source,
                    ["line"] = e.Line,
                }).ToArray()));
            }

            return 0;
        });
        return command;
    }
}

/// <summary><c>orchestrator tasks</c>: recent tasks, newest first.</summary>
internal static class TasksCommand
{
    public static Command Create()
    {
        var limit = new Option<int>("--limit", "-n") { Description = "How many tasks to list", DefaultValueFactory = _ => 20 };
        var json = CommonOptions.Json();
        var command = new Command("tasks", "List recent tasks") { limit, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            if (parse.GetValue(limit) <= 0)
            {
                throw new InvalidTaskRequestException("--limit must be a positive number.");
            }

            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var tasks = await connection.Client.ListTasksAsync(parse.GetValue(limit));
            if (parse.GetValue(json))
            {
                Render.Json(new JsonArray(tasks.Select(t => (JsonNode?)Render.TaskSummaryJson(t)).ToArray()));
                return 0;
            }

            var table = new Table().Border(TableBorder.Rounded).AddColumns("Task", "Status", "Priority", "Domains", "Age", "Duration", "Description");
            foreach (var t in tasks)
            {
                table.AddRow(t.TaskId, Render.StateMarkup(t.State.ToWire()), t.Priority.ToWire(),
                    Markup.Escape(string.Join(", ", t.Subtasks.Select(s => s.Domain))), Render.Age(t.CreatedAt),
                    t.CompletedAt is { } done ? $"{(done - t.CreatedAt).TotalSeconds:0.0}s" : "",
                    Markup.Escape(t.Description.Length > 60 ? t.Description[..57] + "..." : t.Description));
            }

            AnsiConsole.Write(table);
            return 0;
        });
        command.Add(PruneCommand.Create());
        return command;
    }
}

/// <summary><c>orchestrator tasks prune [--older-than &lt;age&gt;]</c>: removes finished tasks now instead of at the end of their retention.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var olderThan = new Option<string?>("--older-than")
        {
            Description = "Remove tasks that finished longer ago than this: 7d, 12h, 30m, 90s or 1.12:00:00; 0 removes every finished task (default: the silo's retention period)",
        };
        var json = CommonOptions.Json();
        var command = new Command("prune", "Remove finished tasks (state, logs and results) now; running tasks are never touched") { olderThan, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var age = parse.GetValue(olderThan) is { } text ? Durations.Parse(text, "--older-than") : (TimeSpan?)null;
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var report = await connection.Client.PruneAsync(age, cancellationToken);
            if (parse.GetValue(json))
            {
                Render.Json(new JsonObject
                {
                    ["older_than_seconds"] = report.OlderThan.TotalSeconds,
                    ["removed"] = new JsonArray(report.Removed.Select(t => (JsonNode?)new JsonObject
                    {
                        ["task_id"] = t.TaskId,
                        ["status"] = t.State.ToWire(),
                        ["completed_at"] = t.CompletedAt?.ToString("O"),
                        ["description"] = t.Description,
                    }).ToArray()),
                });
                return 0;
            }

            if (report.Removed.Count > 0)
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("Task", "Status", "Finished", "Description");
                foreach (var t in report.Removed)
                {
                    table.AddRow(t.TaskId, Render.StateMarkup(t.State.ToWire()), t.CompletedAt is { } done ? Render.Age(done) + " ago" : "",
                        Markup.Escape(t.Description.Length > 60 ? t.Description[..57] + "..." : t.Description));
                }

                AnsiConsole.Write(table);
            }

            AnsiConsole.MarkupLine($"Removed {report.Removed.Count} finished task(s) that finished more than {Markup.Escape(Durations.Format(report.OlderThan))} ago.");
            return 0;
        });
        return command;
    }
}

/// <summary><c>orchestrator cancel &lt;id&gt;</c>.</summary>
internal static class CancelCommand
{
    public static Command Create()
    {
        var id = CommonOptions.TaskId();
        var json = CommonOptions.Json();
        var command = new Command("cancel", "Cancel a task's unfinished parts") { id, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            Render.Result(await connection.Client.CancelAsync(parse.GetValue(id)!), parse.GetValue(json));
            return 0;
        });
        return command;
    }
}

/// <summary><c>orchestrator retry &lt;id&gt;</c>: runs only the parts of a finished task that did not complete.</summary>
internal static class RetryCommand
{
    public static Command Create()
    {
        var id = CommonOptions.TaskId();
        var wait = new Option<bool>("--wait") { Description = "Follow the retried parts to the end" };
        var json = CommonOptions.Json();
        var command = new Command("retry", "Re-run the failed, timed-out and cancelled parts of a finished task") { id, wait, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var task = await connection.Client.RetryAsync(parse.GetValue(id)!);
            if (parse.GetValue(wait))
            {
                task = await Render.FollowAsync(connection.Client, task.TaskId, parse.GetValue(json), cancellationToken);
            }

            Render.Result(task, parse.GetValue(json));
            return !parse.GetValue(wait) || task.State == TaskState.Completed ? 0 : CliAction.NotCompleted;
        });
        return command;
    }
}
