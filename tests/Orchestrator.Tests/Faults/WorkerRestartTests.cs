using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>
/// A worker process killed while its agent runs and started again under the same <c>AGENT_ID</c>, as Docker's
/// <c>unless-stopped</c> policy restarts a domain container: its heartbeat never lapses, so only its new incarnation
/// tells the orchestrator that the work the old process held is gone.
/// </summary>
public sealed class WorkerRestartTests
{
    private const string AgentId = "backend-2e57a27e";

    [RedisFact]
    public async Task A_task_held_by_a_worker_restarted_under_the_same_id_runs_again_long_before_its_timeout()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Orchestrator:Retry:MaxAttempts"] = "2",
        });
        var runs = cluster.Dir.File("runs");
        var environment = new Dictionary<string, string>
        {
            ["REDIS_URL"] = $"redis://{redis.ConnectionString}",
            ["DOMAIN_TYPE"] = "backend",
            ["AGENT_ID"] = AgentId,
            ["WORKSPACE"] = cluster.Workspace,
            // The first run works on (as a real agent would for minutes); the second finishes.
            ["AGENT_COMMAND"] = cluster.Dir.Script("agent.sh", $"""
                echo run >> '{runs}'
                [ "$(wc -l < '{runs}')" -ge 2 ] || exec sleep 300
                """),
            // A heartbeat key that outlives the restart by minutes: the heartbeat cannot be what tells.
            ["HEARTBEAT_INTERVAL_SECONDS"] = "60",
        };
        await using (var first = WorkerProcess.Start(environment))
        {
            await first.RegisteredAsync();
            var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 300 });
            await cluster.WaitUntilAsync(submitted.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
            await Eventually.TrueAsync(() => File.Exists(runs), "the agent never started");

            await first.KillWorkerOnlyAsync();
            await using var second = WorkerProcess.Start(environment);
            var result = await cluster.ResultAsync(submitted.TaskId, seconds: 60);

            Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(submitted.TaskId));
            var subtask = result.Subtasks.Single();
            Assert.Equal(2, subtask.Attempts);
            Assert.Equal(AgentId, subtask.AgentId);
            Assert.Equal(["run", "run"], File.ReadAllLines(runs));
            Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
            var logs = await cluster.Client.GetLogsAsync(submitted.TaskId);
            Assert.Contains(logs.Entries, e => e.Line.Contains($"Agent {AgentId} restarted (new incarnation) while it ran attempt 1"));
        }
    }

    [Fact]
    public async Task A_report_of_the_incarnation_that_started_the_attempt_leaves_the_attempt_running()
    {
        // What a pool grain that forgot what it reported (a silo restart) does: report every registered agent's incarnation.
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "exit 99" });
        cluster.StartExternalWorker("backend-0000a11e", "backend", new HangingAgentRunner(), TimeSpan.FromMilliseconds(200));
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        var incarnation = (await cluster.Client.ListAgentsAsync()).Single(a => a.AgentId == "backend-0000a11e").Incarnation;
        Assert.NotNull(incarnation);

        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<ISubtaskGrain>(task.Subtasks.Single().TaskId)
            .OnAgentRestarted("backend-0000a11e", incarnation);

        var subtask = (await cluster.Client.GetAsync(task.TaskId)).Subtasks.Single();
        Assert.Equal(SubtaskState.InProgress, subtask.State);
        Assert.Equal(1, subtask.Attempts);
    }
}
