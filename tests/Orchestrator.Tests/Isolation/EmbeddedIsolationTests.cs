using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Isolation;

/// <summary>The orchestrator's embedded runtime on a real git workspace: attribution, merges, conflicts, timeouts.</summary>
public sealed class EmbeddedIsolationTests
{
    private static TaskSubmission Registration() => new()
    {
        Description = "Create user registration with form and API",
        Requirements = ["POST /api/users/register", "Build registration form component"],
    };

    [Fact]
    public async Task The_main_job_on_a_git_workspace_lists_each_domains_own_files_and_commits_them_to_the_workspace()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "{demo}" });
        await GitRepository.InitAsync(cluster.Workspace);
        var head = (await GitRepository.RunAsync(cluster.Workspace, "rev-parse", "HEAD")).Trim();

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration())).TaskId);

        Assert.True(result.State == TaskState.Completed, string.Join("; ", result.Subtasks.Select(s => $"{s.Domain}: {s.State} {s.Error}")));
        Assert.All(result.Subtasks, s => Assert.Equal(head, ResultAggregator.TextOf(s, "base_commit"))); // recorded at submit, carried in the message
        var backend = ResultAggregator.FilesOf(result.Subtasks.Single(s => s.Domain == "backend"), "files_created");
        var frontend = ResultAggregator.FilesOf(result.Subtasks.Single(s => s.Domain == "frontend"), "files_created");
        Assert.StartsWith("demo/backend/", Assert.Single(backend));
        Assert.StartsWith("demo/frontend/", Assert.Single(frontend));
        Assert.Equal(backend.Concat(frontend).Order(), ResultAggregator.ToResultJson(result)["files_created"]!.AsArray().Select(f => (string)f!).Order());
        Assert.True(File.Exists(Path.Combine(cluster.Workspace, backend[0])));
        Assert.True(File.Exists(Path.Combine(cluster.Workspace, frontend[0])));
        var authors = await GitRepository.RunAsync(cluster.Workspace, "log", "--format=%an");
        Assert.All(result.Subtasks, s => Assert.Contains(s.AgentId!, authors));
        Assert.Empty(await GitRepository.RunAsync(cluster.Workspace, "status", "--porcelain"));
    }

    [Fact]
    public async Task Two_domains_rewriting_one_file_leave_the_task_partially_completed_with_the_conflict_named_and_both_versions_kept()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo \"written by $DOMAIN_TYPE\" > shared.txt"),
        });
        await GitRepository.InitAsync(cluster.Workspace, ("shared.txt", "as it was\n"));

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration())).TaskId);

        Assert.Equal(TaskState.PartiallyCompleted, result.State);
        var conflicting = Assert.Single(result.Subtasks, s => ResultAggregator.ConflictsOf(s).Count > 0);
        var merged = Assert.Single(result.Subtasks, s => ResultAggregator.ConflictsOf(s).Count == 0);
        Assert.Equal(["shared.txt"], ResultAggregator.ConflictsOf(conflicting));
        Assert.Equal($"written by {merged.Domain}\n", File.ReadAllText(Path.Combine(cluster.Workspace, "shared.txt")));
        var branch = ResultAggregator.TextOf(conflicting, "branch")!;
        Assert.Equal($"written by {conflicting.Domain}\n", await GitRepository.RunAsync(cluster.Workspace, "show", $"{branch}:shared.txt"));
        var json = ResultAggregator.ToResultJson(result);
        Assert.Equal("partially_completed", (string)json["status"]!);
        Assert.Contains(json["subtasks"]!.AsArray(), s => s!["conflicts"]!.AsArray().Select(f => (string)f!).SequenceEqual(["shared.txt"]));
    }

    [Fact]
    public async Task An_agent_that_never_reads_a_prompt_over_64_KiB_times_out_on_time_and_leaves_no_process()
    {
        using var pids = new TempDirectory("pids");
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", AgentThatNeverReads(pids.File("pids"))),
            // Under a loaded CI machine the cluster's 1 s heartbeat TTL can count the busy worker lost and stop it first;
            // this test is about the agent's own timeout.
            ["Orchestrator:HeartbeatTtl"] = "00:00:30",
        });
        var started = System.Diagnostics.Stopwatch.StartNew();

        var submitted = await cluster.Client.SubmitAsync(LargePrompt(timeoutSeconds: 5));
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 30);

        // The timeout, the deadline grace (0.2 s here) and no retry (one attempt): nothing waits on the unread prompt.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"the task took {started.Elapsed}");
        Assert.StartsWith("Timed out after 5 s", result.Subtasks.Single().Error);
        Assert.Equal(SubtaskState.TimedOut, result.Subtasks.Single().State);
        AssertAllGone(pids.File("pids"));
    }

    /// <summary>Ignores SIGTERM, never reads standard input, and starts a child that sleeps too; their pids go to <paramref name="pidFile"/>.</summary>
    internal static string AgentThatNeverReads(string pidFile) => $"""
        trap '' TERM
        echo $$ >> '{pidFile}'
        sleep 600 &
        echo $! >> '{pidFile}'
        wait
        """;

    /// <summary>Forty requirements of 2,000 characters: a prompt of about 80 KiB, more than a pipe holds.</summary>
    internal static TaskSubmission LargePrompt(int timeoutSeconds) => new()
    {
        Description = "Add an API endpoint",
        Requirements = Enumerable.Range(1, 40).Select(i => $"API endpoint {i}: " + new string('z', 1980)).ToArray(),
        Domains = ["backend"],
        TimeoutSeconds = timeoutSeconds,
    };

    internal static void AssertAllGone(string pidFile)
    {
        var pids = File.ReadAllLines(pidFile).Select(int.Parse).ToArray();
        Assert.NotEmpty(pids);
        Assert.All(pids, pid => Assert.False(
            Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), $"agent process {pid} is still running"));
    }
}
