using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;
using Orchestrator.Worker.Agents;
using Orleans.Storage;

namespace Orchestrator.Tests.Faults;

/// <summary>
/// A grain's memory counts only once stored: a stale activation never overwrites what another stored, and one whose
/// write failed is replaced before it answers again.
/// </summary>
public sealed class StateConflictTests
{
    [Fact]
    public async Task A_stale_subtask_activation_never_overwrites_the_state_another_activation_stored()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("slow.sh", "sleep 30") });
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var subtaskId = task.Subtasks.Single().TaskId;
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

        // Another activation of the same subtask (as during a membership change) completes it and stores that.
        await cluster.ChangeStoredSubtaskAsync(subtaskId, stored =>
        {
            stored.State = SubtaskState.Completed;
            stored.Revision++;
        });

        // The stale activation changes its own copy: its write must not win.
        await cluster.Client.CancelAsync(task.TaskId).ContinueWith(_ => { }, TaskScheduler.Default);

        Assert.Equal(SubtaskState.Completed, (await cluster.StoredSubtaskAsync(subtaskId)).State);
        // The conflict let the stale activation go: the caller's retry meets the stored state.
        var retried = await cluster.Client.CancelAsync(task.TaskId);
        Assert.Equal(SubtaskState.Completed, retried.Subtasks.Single().State);
    }

    [Fact]
    public async Task A_result_whose_write_failed_is_taken_again_by_a_fresh_activation_not_dropped_as_already_known()
    {
        var storage = new FailsOneSubtaskWrite(SubtaskState.Completed);
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done > api.txt") }, storage.Install);

        // The write of `completed` fails; the result comes again at the deadline, when the orchestrator reads the stored result.
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", TimeoutSeconds = 2 });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.True(storage.Failed);
        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(SubtaskState.Completed, (await cluster.StoredSubtaskAsync(task.Subtasks.Single().TaskId)).State);
    }

    [Fact]
    public async Task A_watcher_never_sees_a_change_before_it_is_stored()
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var freed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var storage = new GrainStorageInterceptor(state =>
        {
            if (state is TaskGrainState task && task.Subtasks.Any(s => s.State == SubtaskState.Completed))
            {
                held.TrySetResult();
                return freed.Task; // the completion's write hangs, as on a slow store
            }

            return Task.CompletedTask;
        });
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done > api.txt") }, storage.Install);
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint" });
        await held.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The completion is in the task's memory; its write has not happened. A watcher asking now must not see it.
        var seen = await cluster.ClusterClient.GetGrain<ITaskGrain>(task.TaskId).WaitForChange(task.Version, TimeSpan.FromSeconds(5));
        freed.SetResult();
        var completed = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.NotEqual(SubtaskState.Completed, seen.Subtasks.Single().State);
        Assert.Equal(TaskState.Completed, completed.State);
    }

    [Fact]
    public async Task A_part_whose_write_of_its_result_failed_takes_that_result_when_its_agent_is_lost_instead_of_running_again()
    {
        var storage = new FailsOneSubtaskWrite(SubtaskState.Completed);
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Orchestrator:Retry:MaxAttempts"] = "2",
            ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done > api.txt"),
        }, storage.Install);
        var agent = new RunsUntilReleased();
        cluster.StartExternalWorker("backend-5113e47a", "backend", agent, heartbeat: TimeSpan.FromMilliseconds(200));
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

        // The agent finishes and its result is stored, but the part's write of it fails: its record still says the
        // agent holds it. Then the agent is reported lost, as when its heartbeat lapses.
        agent.Release();
        await storage.Failure.WaitAsync(TimeSpan.FromSeconds(30));
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IDomainSchedulerGrain>("backend").AgentLost("backend-5113e47a");
        var result = await cluster.ResultAsync(task.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(1, result.Subtasks.Single().Attempts);
        Assert.Equal(1, agent.Runs);
    }

    private sealed class RunsUntilReleased : IAgentRunner
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _runs;

        public int Runs => _runs;

        public void Release() => _released.TrySetResult();

        public async Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _runs);
            output("working"); // its first line sent reports the start
            await _released.Task.WaitAsync(cancellationToken);
            return new AgentOutcome(0, null, "", TimeSpan.Zero);
        }
    }

    /// <summary>Fails the first write of a subtask in the <paramref name="failing"/> state, as a storage blip would.</summary>
    private sealed class FailsOneSubtaskWrite(SubtaskState failing)
    {
        private readonly TaskCompletionSource _failure = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Failed => _failure.Task.IsCompleted;

        /// <summary>Completes once the write has been failed.</summary>
        public Task Failure => _failure.Task;

        public void Install(IServiceCollection services) => new GrainStorageInterceptor(state =>
            state is SubtaskGrainState subtask && subtask.State == failing && _failure.TrySetResult()
                ? Task.FromException(new TimeoutException("simulated: the store did not answer"))
                : Task.CompletedTask).Install(services);
    }
}
