using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Lifecycle;

/// <summary>An operator holds a domain's queue: work is still taken and queued, nothing is dispatched until it is let go.</summary>
public sealed class DomainPauseTests
{
    [Fact]
    public async Task A_paused_domain_queues_its_work_without_dispatching_it_and_runs_it_once_resumed()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done > api.txt") });
        await cluster.Client.PauseDomainAsync("backend", paused: true);

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        // The subtask's enqueue is done when the submit returns: an unpaused queue would have dispatched it by now.
        var held = (await cluster.Client.ListDomainsAsync()).Single(d => d.DomainType == "backend").Queue;
        var resumed = await cluster.Client.PauseDomainAsync("backend", paused: false);
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.True(held.Paused);
        Assert.Equal((1, 0), (held.QueuedNormal, held.InFlight));
        Assert.False(resumed.Paused);
        Assert.Equal(TaskState.Completed, result.State);
    }

    [Fact]
    public async Task A_wait_for_a_result_asked_to_last_forever_returns_at_once()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("slow.sh", "sleep 30") });
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });

        // A client cannot keep a grain's call and timer alive at will: an infinite wait is cut to none.
        var seen = await cluster.ClusterClient.GetGrain<ITaskGrain>(task.TaskId).WaitForResult(Timeout.InfiniteTimeSpan).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(seen.State.IsFinal());
    }
}
