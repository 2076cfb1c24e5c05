using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Webhooks;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary>Tables for people, JSON for programs.</summary>
internal static class Render
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Progress and logs go to stderr when stdout carries JSON.</summary>
    public static IAnsiConsole Progress(bool json) =>
        json ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }) : AnsiConsole.Console;

    public static void Json(JsonNode node) => Console.Out.WriteLine(node.ToJsonString(Indented));

    public static string StateMarkup(string wire) => wire switch
    {
        "completed" => "[green]completed[/]",
        "partially_completed" => "[yellow]partially_completed[/]",
        "failed" or "timed_out" => $"[red]{wire}[/]",
        "cancelled" => "[grey]cancelled[/]",
        _ => $"[blue]{wire}[/]",
    };

    /// <param name="deliveries">The task's webhook deliveries, shown when the task notifies.</param>
    public static void Result(TaskView task, bool json, IReadOnlyList<WebhookDelivery>? deliveries = null)
    {
        if (json)
        {
            Json(WebhookJson.WithDeliveries(ResultAggregator.ToResultJson(task), task, deliveries ?? []));
            return;
        }

        var console = AnsiConsole.Console;
        console.MarkupLine($"Task [bold]{task.TaskId}[/]: {StateMarkup(task.State.ToWire())}  (priority {task.Priority.ToWire()})");
        console.MarkupLine($"  {Markup.Escape(task.Description)}");
        if (task.Usage is { } total)
        {
            console.WriteLine($"  Usage: {UsageText(total)}");
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("Domain", "Status", "Attempts", "Agent", "Tokens", "Cost", "Workers", "Merge", "Error");
        foreach (var subtask in task.Subtasks)
        {
            table.AddRow(
                Markup.Escape(subtask.Domain),
                StateMarkup(subtask.State.ToWire()) + Waiting(subtask),
                subtask.Attempts.ToString(),
                Markup.Escape(subtask.AgentId ?? ""),
                subtask.Usage?.TotalTokens.ToString("N0", CultureInfo.InvariantCulture) ?? "",
                subtask.Usage?.CostUsd is { } cost ? cost.ToString("$0.0000", CultureInfo.InvariantCulture) : "",
                Markup.Escape(string.Join(", ", subtask.Workers)),
                ResultAggregator.TextOf(subtask, "merge") is { } merge ? (merge == "conflict" ? "[red]conflict[/]" : Markup.Escape(merge)) : "",
                Markup.Escape(subtask.Error ?? ""));
        }

        console.Write(table);
        foreach (var subtask in task.Subtasks)
        {
            var files = ResultAggregator.FilesOf(subtask, "files_created").Select(f => "  + " + f)
                .Concat(ResultAggregator.FilesOf(subtask, "files_modified").Select(f => "  ~ " + f))
                .Concat(ResultAggregator.FilesOf(subtask, "files_deleted").Select(f => "  - " + f))
                .ToArray();
            console.MarkupLine($"[bold]{Markup.Escape(subtask.Domain)}[/] files ({files.Length}):");
            foreach (var file in files)
            {
                console.WriteLine(file);
            }
        }

        foreach (var subtask in task.Subtasks.Where(s => ResultAggregator.ConflictsOf(s).Count > 0))
        {
            var branch = ResultAggregator.TextOf(subtask, "branch");
            var target = ResultAggregator.TextOf(subtask, "merged_into");
            console.MarkupLine($"[red]Conflict[/] [bold]{Markup.Escape(subtask.Domain)}[/]: {Markup.Escape(string.Join(", ", ResultAggregator.ConflictsOf(subtask)))}");
            console.WriteLine($"  its version is on branch {branch}, the workspace's on {target}; resolve with: git merge {branch}");
        }

        var result = ResultAggregator.ToResultJson(task);
        console.WriteLine($"Files created: {string.Join(", ", result["files_created"]!.AsArray().Select(f => f!.GetValue<string>()))}");
        console.WriteLine($"Files modified: {string.Join(", ", result["files_modified"]!.AsArray().Select(f => f!.GetValue<string>()))}");
        if (task.NotifyUrl is not null)
        {
            Webhooks(console, task.NotifyUrl, deliveries ?? []);
        }
    }

    private static void Webhooks(IAnsiConsole console, string url, IReadOnlyList<WebhookDelivery> deliveries)
    {
        console.MarkupLine($"Webhook: {Markup.Escape(url)}{(deliveries.Count == 0 ? " (sent when the task is final)" : "")}");
        if (deliveries.Count == 0)
        {
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("Delivery", "Status", "Attempts", "Last answer", "Next attempt");
        foreach (var d in deliveries)
        {
            var state = d.State switch
            {
                WebhookDeliveryState.Delivered => "[green]delivered[/]",
                WebhookDeliveryState.Failed => "[red]failed[/]",
                _ => "[blue]pending[/]",
            };
            table.AddRow(d.DeliveryId, state, d.Attempts.ToString(),
                Markup.Escape(d.LastError ?? d.LastStatusCode?.ToString() ?? ""), d.NextAttemptAt?.ToString("HH:mm:ss") ?? "");
        }

        console.Write(table);
    }

    /// <summary>" (waiting for backend)" for a dependent that has not started; empty otherwise.</summary>
    private static string Waiting(SubtaskView subtask) =>
        subtask.WaitingFor.Count == 0 ? "" : $" [grey](waiting for {Markup.Escape(string.Join(", ", subtask.WaitingFor))})[/]";
    private static string UsageText(TokenUsage usage) => string.Create(CultureInfo.InvariantCulture,
        $"{usage.TotalTokens:N0} tokens (input {usage.InputTokens:N0}, output {usage.OutputTokens:N0}, cache write {usage.CacheCreationTokens:N0}, cache read {usage.CacheReadTokens:N0})")
        + (usage.CostUsd is { } cost ? cost.ToString(", $0.0000", CultureInfo.InvariantCulture) : "");

    public static void LogLines(IAnsiConsole console, IEnumerable<LogEntry> entries)
    {
        foreach (var entry in entries)
        {
            console.MarkupLine($"[grey]{Markup.Escape(entry.Source),-12}[/] {Markup.Escape(entry.Line)}");
        }
    }

    /// <summary>Streams a task's changes and log lines until it is final; returns the final view.</summary>
    public static async Task<TaskView> FollowAsync(OrchestratorClient client, string taskId, bool json, CancellationToken cancellationToken)
    {
        var console = Progress(json);
        TaskView? last = null;
        await foreach (var update in client.WatchAsync(taskId, cancellationToken))
        {
            foreach (var subtask in update.ChangedSubtasks)
            {
                console.MarkupLine($"[bold]{Markup.Escape(subtask.Domain),-12}[/] {StateMarkup(subtask.State.ToWire())}{Waiting(subtask)}" +
                    (subtask.Error is null ? "" : $" [red]{Markup.Escape(subtask.Error)}[/]"));
            }

            LogLines(console, update.Logs);
            last = update.Task;
        }

        return last!;
    }

    public static void Plan(TaskPlan plan, bool json)
    {
        var stages = DomainOrder.Stages(plan);
        if (json)
        {
            Json(new JsonObject
            {
                ["domains"] = new JsonArray(plan.Domains.Select(d => (JsonNode?)d).ToArray()),
                ["order"] = new JsonArray(stages.Select(stage => (JsonNode?)new JsonArray(stage.Select(d => (JsonNode?)d).ToArray())).ToArray()),
                ["subtasks"] = new JsonArray(plan.Subtasks.Select(s => (JsonNode?)new JsonObject
                {
                    ["domain"] = s.Domain,
                    ["description"] = s.Description,
                    ["requirements"] = new JsonArray(s.Requirements.Select(r => (JsonNode?)r).ToArray()),
                    ["workers"] = new JsonArray(s.Workers.Select(w => (JsonNode?)w).ToArray()),
                    ["after"] = new JsonArray(s.After.Select(d => (JsonNode?)d).ToArray()),
                }).ToArray()),
            });
            return;
        }

        AnsiConsole.MarkupLine($"Domains: [bold]{Markup.Escape(string.Join(", ", plan.Domains))}[/]");
        if (stages.Count > 1)
        {
            AnsiConsole.MarkupLine($"Order: [bold]{Markup.Escape(string.Join(" then ", stages.Select(stage => string.Join(" + ", stage))))}[/]");
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("Domain", "Starts after", "Workers", "Requirements");
        foreach (var s in plan.Subtasks)
        {
            table.AddRow(Markup.Escape(s.Domain), Markup.Escape(string.Join(", ", s.After)), Markup.Escape(string.Join(", ", s.Workers)),
                Markup.Escape(s.Requirements.Count == 0 ? "(the description itself)" : string.Join("\n", s.Requirements.Select(r => "- " + r))));
        }

        AnsiConsole.Write(table);
    }

    public static JsonObject TaskSummaryJson(TaskView t) => new()
    {
        ["task_id"] = t.TaskId,
        ["status"] = t.State.ToWire(),
        ["priority"] = t.Priority.ToWire(),
        ["description"] = t.Description,
        ["domains"] = new JsonArray(t.Subtasks.Select(s => (JsonNode?)s.Domain).ToArray()),
        ["created_at"] = t.CreatedAt.ToString("O"),
        ["completed_at"] = t.CompletedAt?.ToString("O"),
    };

    public static string Age(DateTimeOffset since) => (DateTimeOffset.UtcNow - since) switch
    {
        { TotalSeconds: < 60 } a => $"{a.TotalSeconds:0}s",
        { TotalMinutes: < 60 } a => $"{a.TotalMinutes:0}m",
        { TotalHours: < 48 } a => $"{a.TotalHours:0}h",
        var a => $"{a.TotalDays:0}d",
    };
}
