using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Core.Protocol;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orchestrator bench isolation</c>: what isolating one attempt costs — worktree, a no-op agent, the file lists,
/// cleanup — beside what git itself needs for the same steps (<c>git worktree add</c>, the process, <c>git status</c>,
/// <c>git worktree remove</c>, <c>git branch -D</c>), on an empty repository and on one with many files.
/// A measurement, not a test: nothing is asserted.
/// </summary>
internal static class IsolationBenchCommand
{
    public static Command Create()
    {
        var files = new Option<int>("--files") { Description = "Files in the large repository", DefaultValueFactory = _ => 100_000 };
        var attempts = new Option<int>("--attempts", "-n") { Description = "Attempts measured per repository and side", DefaultValueFactory = _ => 10 };
        var json = CommonOptions.Json();
        var command = new Command("isolation", "Measure the per-attempt cost of worktree isolation beside plain git") { files, attempts, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(attempts);
            if (count <= 0 || parse.GetValue(files) < 0)
            {
                throw new InvalidTaskRequestException("--attempts must be positive and --files not negative.");
            }

            var rows = new JsonArray();
            foreach (var size in new[] { 0, parse.GetValue(files) })
            {
                var root = Path.Combine(Path.GetTempPath(), $"orchestrator-bench-{Guid.NewGuid():N}");
                try
                {
                    await CreateRepositoryAsync(root, size, cancellationToken);
                    rows.Add(await MeasureAsync(root, size, count, cancellationToken));
                }
                finally
                {
                    Directory.Delete(root, recursive: true);
                }
            }

            var figures = new JsonObject { ["attempts"] = count, ["processors"] = Environment.ProcessorCount, ["repositories"] = rows };
            if (parse.GetValue(json))
            {
                Render.Json(figures);
                return 0;
            }

            var table = new Table().Border(TableBorder.Rounded).AddColumns("Files", "Isolated attempt (median ms)", "git itself (median ms)", "Overhead");
            foreach (var row in rows)
            {
                table.AddRow(row!["files"]!.ToJsonString(), row["isolated_ms"]!.ToJsonString(), row["git_ms"]!.ToJsonString(), $"{row["overhead_percent"]!.ToJsonString()} %");
            }

            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }

    private static async Task CreateRepositoryAsync(string root, int files, CancellationToken cancellationToken)
    {
        var git = new Git(root);
        Directory.CreateDirectory(root);
        await git.CheckAsync(["init", "-q", "-b", "main"], cancellationToken: cancellationToken);
        File.WriteAllText(Path.Combine(root, "README.md"), "# bench\n");
        for (var i = 0; i < files; i++)
        {
            var folder = Path.Combine(root, "src", $"d{i / 100:D4}");
            if (i % 100 == 0)
            {
                Directory.CreateDirectory(folder);
            }

            File.WriteAllText(Path.Combine(folder, $"f{i % 100:D2}.txt"), $"file {i}\n");
        }

        await git.CheckAsync(["add", "-A"], cancellationToken: cancellationToken);
        await git.CheckAsync(["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "bench"], cancellationToken: cancellationToken);
    }

    /// <summary>The two sides alternate, after one warm-up each, so that drift of the machine hits both alike.</summary>
    private static async Task<JsonObject> MeasureAsync(string root, int files, int count, CancellationToken cancellationToken)
    {
        var isolation = new WorktreeIsolation(new IsolationOptions { Workspace = root, DomainType = "bench" }, NullLogger<WorktreeIsolation>.Instance);
        var agent = new ProcessAgentRunner(new AgentCommandOptions { Command = "true" });
        var git = new Git(root);
        var isolated = new List<double>();
        var plain = new List<double>();
        for (var i = 0; i <= count; i++)
        {
            var ours = await IsolatedAttemptAsync(isolation, agent, i, cancellationToken);
            var theirs = await PlainGitAsync(git, root, i, cancellationToken);
            if (i > 0)
            {
                isolated.Add(ours);
                plain.Add(theirs);
            }
        }

        var (isolatedMs, gitMs) = (Median(isolated), Median(plain));
        return new JsonObject
        {
            ["files"] = files,
            ["isolated_ms"] = isolatedMs,
            ["git_ms"] = gitMs,
            ["overhead_percent"] = Math.Round((isolatedMs - gitMs) / gitMs * 100, 1),
        };
    }

    private static async Task<double> IsolatedAttemptAsync(WorktreeIsolation isolation, ProcessAgentRunner agent, int i, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var message = new TaskMessage { TaskId = $"bench{i:D4}", Destination = "bench", Description = "No-op", TimeoutSeconds = 60 };
        await using (var attempt = await isolation.BeginAsync(message, cancellationToken))
        {
            await agent.RunAsync(new AgentRun(message, "", attempt.Directory, "bench"), _ => { }, cancellationToken);
            await attempt.FinishAsync(completed: true, "bench-agent", cancellationToken);
        }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static async Task<double> PlainGitAsync(Git git, string root, int i, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var directory = Path.Combine(root, ".orchestrator", "plain", $"p{i}");
        await git.CheckAsync(["worktree", "add", "-q", "-b", $"plain/{i}", directory, "HEAD"], cancellationToken: cancellationToken);
        await CliWrap.Cli.Wrap("/bin/sh").WithArguments(["-c", "true"]).WithWorkingDirectory(directory).ExecuteAsync(cancellationToken);
        await git.In(directory).CheckAsync(["status", "--porcelain", "--untracked-files=all"], cancellationToken: cancellationToken);
        await git.CheckAsync(["worktree", "remove", "--force", directory], cancellationToken: cancellationToken);
        await git.CheckAsync(["branch", "-D", "-q", $"plain/{i}"], cancellationToken: cancellationToken);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return Math.Round(values[values.Count / 2], 1);
    }
}
