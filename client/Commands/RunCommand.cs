using System.CommandLine;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator run</c>: the main job, embedded — a silo in this process runs the task end to end.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var input = new TaskInput();
        var workspace = new Option<string?>("--workspace", "-w") { Description = "The shared workspace the agents work in (default ./workspace)" };
        var json = CommonOptions.Json();
        var command = new Command("run", "Run a task end to end in an embedded orchestrator, showing progress per domain; exits 0 only when it completed");
        input.AddTo(command);
        command.Add(workspace);
        command.Add(json);
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var submission = input.Read(parse);
            var settings = new Dictionary<string, string?>();
            if (parse.GetValue(workspace) is { } dir)
            {
                settings["Domains:Workspace"] = Path.GetFullPath(dir);
            }

            await using var embedded = await EmbeddedOrchestrator.StartAsync(settings, cancellationToken: cancellationToken);
            embedded.Client.Analyze(submission); // refuses bad input before anything is stored
            var task = await embedded.Client.SubmitAsync(submission, cancellationToken);
            Render.Progress(parse.GetValue(json)).MarkupLine($"Task [bold]{task.TaskId}[/] submitted to {string.Join(", ", task.Subtasks.Select(s => s.Domain))}");
            TaskView final;
            try
            {
                final = await Render.FollowAsync(embedded.Client, task.TaskId, parse.GetValue(json), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                await embedded.Client.CancelAsync(task.TaskId);
                throw;
            }

            // The embedded silo ends with this command: its webhook is delivered (or given up) first.
            if (final.NotifyUrl is not null)
            {
                Render.Progress(parse.GetValue(json)).MarkupLine($"Delivering the webhook to {Markup.Escape(final.NotifyUrl)} …");
            }

            var deliveries = await embedded.Client.WaitForDeliveryAsync(final, cancellationToken: cancellationToken);
            Render.Result(final, parse.GetValue(json), deliveries);
            return final.State == TaskState.Completed ? 0 : CliAction.NotCompleted;
        });
        return command;
    }
}
