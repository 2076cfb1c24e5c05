using System.CommandLine;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator submit</c>: hands a task to a running silo; with <c>--wait</c>, follows it to the end.</summary>
internal static class SubmitCommand
{
    public static Command Create()
    {
        var input = new TaskInput();
        var wait = new Option<bool>("--wait") { Description = "Follow the task's progress and print its result; exit 0 only when it completed" };
        var json = CommonOptions.Json();
        var command = new Command("submit", "Submit a task to a running orchestrator (Cluster:Gateway)");
        input.AddTo(command);
        command.Add(wait);
        command.Add(json);
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var submission = input.Read(parse);
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var task = await connection.Client.SubmitAsync(submission, cancellationToken);
            if (!parse.GetValue(wait))
            {
                if (parse.GetValue(json))
                {
                    Render.Json(Render.TaskSummaryJson(task));
                }
                else
                {
                    Console.WriteLine(task.TaskId);
                }

                return 0;
            }

            var final = await Render.FollowAsync(connection.Client, task.TaskId, parse.GetValue(json), cancellationToken);
            // The silo delivers the webhook on its own time; this shows where it stands now (`status` shows it later).
            Render.Result(final, parse.GetValue(json), final.NotifyUrl is null ? [] : await connection.Client.GetDeliveriesAsync(final.TaskId));
            return final.State == TaskState.Completed ? 0 : CliAction.NotCompleted;
        });
        return command;
    }
}
