using Orchestrator.Cli.Commands;
using Orchestrator.Contracts;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Performance;

/// <summary>What a finished task leaves in a silo: nothing. Its grains go once done, and come back from storage when asked.</summary>
public sealed class FinishedTaskFootprintTests
{
    [Fact]
    public async Task A_finished_task_and_its_parts_leave_no_activation_behind_and_a_read_of_it_leaves_none_either()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" });

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint and the form", Domains = ["backend", "frontend"] });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);
        Assert.Equal(TaskState.Completed, result.State);
        await Eventually.TrueAsync(async () => await TaskActivationsAsync(cluster) == 0, "the finished task's grains are still active");

        var read = await cluster.Client.GetAsync(task.TaskId);

        Assert.Equal(TaskState.Completed, read.State);
        Assert.Equal(result.Subtasks.Select(s => (s.Domain, s.State)), read.Subtasks.Select(s => (s.Domain, s.State)));
        await Eventually.TrueAsync(async () => await TaskActivationsAsync(cluster) == 0, "reading the finished task kept its grains active");
    }

    [Fact]
    public async Task A_finished_task_being_retried_still_answers_reads_while_its_retry_waits()
    {
        var retryHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var freed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var storage = new GrainStorageInterceptor(state =>
        {
            // Attempt 2 is the retry's: the test cluster allows one attempt (Retry:MaxAttempts 1), so no automatic retry writes it.
            if (state is SubtaskGrainState { State: SubtaskState.Pending, Attempt: 2 })
            {
                retryHeld.TrySetResult();
                return freed.Task; // the retried part's write hangs, as on a slow store: the task's retry waits for it
            }

            return Task.CompletedTask;
        });
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "exit 2") }, storage.Install);
        var failed = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint" })).TaskId);
        Assert.Equal(TaskState.Failed, failed.State);

        var retry = cluster.Client.RetryAsync(failed.TaskId);
        await retryHeld.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The task still reads as finished while its retry runs. A read ending then must not let the grain go: that
        // would hold every later call until the retry ends.
        await cluster.Client.GetAsync(failed.TaskId);
        var readDuringRetry = await cluster.Client.GetAsync(failed.TaskId).WaitAsync(TimeSpan.FromSeconds(20));
        freed.SetResult();
        await retry;

        Assert.Equal(failed.TaskId, readDuringRetry.TaskId);
        Assert.Equal(2, (await cluster.ResultAsync(failed.TaskId, seconds: 30)).Subtasks.Single().Attempts);
    }

    private static Task<int> TaskActivationsAsync(OrchestratorCluster cluster) => TaskActivations.CountAsync(cluster.Silo);
}
