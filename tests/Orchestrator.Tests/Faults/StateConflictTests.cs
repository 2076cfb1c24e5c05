using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;
using Orleans.Storage;

namespace Orchestrator.Tests.Faults;

/// <summary>Orleans' guard against two activations of one grain: a stale activation never overwrites what another stored.</summary>
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
}
