using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;
using Orchestrator.Worker;
using Orchestrator.Worker.Agents;
using Orleans.Storage;

namespace Orchestrator.Tests.Faults;

/// <summary>A passed deadline is acted on until it took effect, whatever failed in between.</summary>
public sealed class DeadlineTests
{
    [Fact]
    public async Task A_deadline_whose_report_fails_is_reported_again_until_the_subtask_times_out()
    {
        var blips = new WithdrawalBlips(failures: 1);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "exit 99" }, blips.Install);
        cluster.StartExternalWorker("backend-0000r0g0", "backend", new HangingAgentRunner(), TimeSpan.FromMilliseconds(200));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 1 });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 30);

        Assert.Equal(1, blips.Failed);
        Assert.Equal(SubtaskState.TimedOut, result.Subtasks.Single().State);
    }

    [Fact]
    public async Task A_subtask_published_but_never_recorded_as_dispatched_times_out_at_its_deadline_and_is_retried()
    {
        // Counted like any timeout (a crash loop must not retry for ever), so a second attempt is allowed here.
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "exit 99", ["Orchestrator:Retry:MaxAttempts"] = "2" });
        cluster.StartExternalWorker("backend-0000r0g0", "backend", new HangsOnceAgentRunner(), TimeSpan.FromMilliseconds(200));
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 2 });
        var subtaskId = task.Subtasks.Single().TaskId;
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

        // What a silo that died between publishing and recording leaves: the message out, the subtask stored as pending,
        // its scheduler counting it in flight. The grains come back from storage.
        await cluster.ChangeStoredSubtaskAsync(subtaskId, stored =>
        {
            stored.State = SubtaskState.Pending;
            stored.AgentId = null;
        });
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await cluster.Client.ListDomainsAsync(); // the scheduler comes back with the attempt in flight

        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(2, result.Subtasks.Single().Attempts);
    }

    [Fact]
    public async Task A_newer_attempt_stored_but_never_queued_is_queued_when_the_older_attempts_deadline_passes()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "exit 99" });
        cluster.StartExternalWorker("backend-0000r0g0", "backend", new HangsOnceAgentRunner(), TimeSpan.FromMilliseconds(200));
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 2 });
        var subtaskId = task.Subtasks.Single().TaskId;
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

        // What a silo that stopped between storing a fresh attempt and queueing it leaves: attempt 1 taken back, attempt 2
        // stored as pending, the scheduler still holding attempt 1's slot. The grains come back from storage.
        await cluster.Silo.GetRequiredService<ITaskTransport>().WithdrawAsync("backend", subtaskId);
        await cluster.ChangeStoredSubtaskAsync(subtaskId, stored =>
        {
            stored.State = SubtaskState.Pending;
            stored.AgentId = null;
            stored.Attempt = 2;
            stored.RunFirstAttempt = 2;
        });
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await cluster.Client.ListDomainsAsync(); // the scheduler comes back with attempt 1 in flight

        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(2, result.Subtasks.Single().Attempts);
    }

    [Fact]
    public async Task A_result_whose_report_was_lost_is_taken_from_the_results_store_at_the_deadline_and_not_run_again()
    {
        var lost = new LostCompletedReport();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" }, lost.Install);

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 1 });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.True(lost.Happened);
        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(1, result.Subtasks.Single().Attempts); // its own result, not a second run of the agent
    }

    [Fact]
    public async Task A_result_whose_report_was_lost_is_taken_when_its_domain_is_reported_unavailable_instead_of_failing_the_part()
    {
        // Its deadline is far off, and the domain goes away first.
        var lost = new LostCompletedReport();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" }, lost.Install);
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 300 });
        await Eventually.TrueAsync(() => lost.Happened, "the completed part's write never failed");

        var scheduler = cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IDomainSchedulerGrain>("backend");
        await scheduler.SetCapacity(0); // its workers are gone: the part in its slot is waiting for a domain
        await scheduler.DomainUnavailable("simulated: no backend domain can be started");
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(1, result.Subtasks.Single().Attempts); // its own result, neither failed with the reason nor run again
    }

    /// <summary>
    /// The storage fails the write of the completed part once, as during a blip: the report is lost, and the part comes
    /// back from storage as pending — an attempt that ends before its log is first sent writes no start.
    /// </summary>
    private sealed class LostCompletedReport
    {
        private int _failed;

        public bool Happened => Volatile.Read(ref _failed) == 1;

        public void Install(IServiceCollection services) =>
            new GrainStorageInterceptor(state =>
                state is SubtaskGrainState { State: SubtaskState.Completed } && Interlocked.Exchange(ref _failed, 1) == 0
                    ? throw new IOException("storage blip")
                    : Task.CompletedTask).Install(services);
    }

    /// <summary>Withdrawals fail the first times, as during a Redis blip.</summary>
    private sealed class WithdrawalBlips(int failures)
    {
        private readonly int _failures = failures;
        private int _failed;

        public int Failed => Math.Min(_failed, _failures);

        public void Install(IServiceCollection services) =>
            services.AddSingleton<ITaskTransport>(sp => new Transport(sp.GetRequiredService<InMemoryNetwork>(), this));

        private sealed class Transport(ITaskTransport inner, WithdrawalBlips blips) : ITaskTransport
        {
            public Task PublishAsync(TaskMessage message, string logLine, CancellationToken cancellationToken = default) => inner.PublishAsync(message, logLine, cancellationToken);

            public Task WithdrawAsync(string domain, string taskId, CancellationToken cancellationToken = default) =>
                Interlocked.Increment(ref blips._failed) <= blips._failures
                    ? Task.FromException(new TimeoutException("simulated: the store did not answer"))
                    : inner.WithdrawAsync(domain, taskId, cancellationToken);

            public Task<AgentResult?> GetResultAsync(string taskId, CancellationToken cancellationToken = default) => inner.GetResultAsync(taskId, cancellationToken);

            public Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken = default) => inner.AppendLogsAsync(taskId, lines, cancellationToken);

            public Task<IReadOnlyList<string>> ReadLogsAsync(string taskId, long fromIndex, CancellationToken cancellationToken = default) => inner.ReadLogsAsync(taskId, fromIndex, cancellationToken);
        }
    }

    /// <summary>Hangs on its first run until taken back; succeeds on the next.</summary>
    private sealed class HangsOnceAgentRunner : IAgentRunner
    {
        private int _runs;

        public async Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _runs) == 1)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return new AgentOutcome(0, null, "done", TimeSpan.Zero);
        }
    }
}
