using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Contracts;
using Orchestrator.Core.Transport;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>
/// Deadlines and heartbeat ages are judged by the orchestrator's clock (<see cref="TimeProvider"/>): a fake clock moved
/// forward shows them acting at the right moment, with no test waiting out a real timeout.
/// </summary>
public sealed class ClockTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.UtcNow;

    [Fact]
    public async Task A_subtask_times_out_when_the_orchestrators_clock_passes_its_deadline()
    {
        var clock = new FakeTimeProvider(Start);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Orchestrator:HeartbeatTtl"] = "01:00:00",
            ["Orchestrator:DeadlineGrace"] = "00:00:05",
        }, services => services.AddSingleton<TimeProvider>(clock));
        using var wedged = new WedgedAgentRunner();
        cluster.StartExternalWorker("backend-0000c10c", "backend", wedged, heartbeat: TimeSpan.FromHours(1));
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 300 });
        await wedged.Started.WaitAsync(TimeSpan.FromSeconds(30));

        clock.Advance(TimeSpan.FromSeconds(306));
        var result = await FinalAsync(cluster, submitted.TaskId, clock);

        Assert.Equal(SubtaskState.TimedOut, result.Subtasks.Single().State);
        Assert.StartsWith("Timed out after 300 s", result.Subtasks.Single().Error);
    }

    [Fact]
    public async Task An_agent_is_healthy_until_its_last_heartbeat_is_older_than_the_ttl_by_the_clock()
    {
        var clock = new FakeTimeProvider(Start);
        var directory = new InMemoryNetwork(new NoEvents(), clock, heartbeatTtl: TimeSpan.FromSeconds(30));
        await directory.RegisterAsync(new AgentInfo { AgentId = "backend-0000c10c", Role = AgentRoles.Domain, DomainType = "backend" });

        clock.Advance(TimeSpan.FromSeconds(29.9));
        var fresh = await directory.GetAsync("backend-0000c10c");
        clock.Advance(TimeSpan.FromSeconds(0.2));
        var stale = await directory.GetAsync("backend-0000c10c");
        await directory.HeartbeatAsync("backend-0000c10c");
        var renewed = await directory.GetAsync("backend-0000c10c");

        Assert.True(fresh!.Healthy);
        Assert.False(stale!.Healthy);
        Assert.True(renewed!.Healthy);
    }

    private sealed class NoEvents : ITaskEventSink
    {
        public Task OnStartedAsync(string taskId, string agentId, DateTimeOffset startedAt, string? leaseProof, string? incarnation) => Task.CompletedTask;

        public Task OnResultAsync(AgentResult result) => Task.CompletedTask;

        public Task OnLogsAppendedAsync(string taskId) => Task.CompletedTask;

        public Task OnNotificationsMayBeMissedAsync() => Task.CompletedTask;
    }

    /// <summary>
    /// After the jump the clock runs on, a tick at a time, while the task goes to its end; waiting for a change has its
    /// timeout on that clock, so the task is asked instead.
    /// </summary>
    private static async Task<TaskView> FinalAsync(OrchestratorCluster cluster, string taskId, FakeTimeProvider clock)
    {
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                clock.Advance(TimeSpan.FromMilliseconds(50));
                return (await cluster.Client.GetAsync(taskId)).State.IsFinal();
            }, "not final", seconds: 30);
        }
        catch (Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"Task {taskId} was not final after 30 s. {await cluster.DescribeAsync(taskId)}");
        }

        return await cluster.Client.GetAsync(taskId);
    }
}
