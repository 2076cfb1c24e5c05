using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>A running task read again while one of its parts cannot answer (its activation going, its silo stopping).</summary>
public sealed class SilentSubtaskTests
{
    [Fact]
    public async Task A_running_task_read_while_its_part_cannot_answer_shows_what_it_stored_and_still_completes()
    {
        var holdSubtaskReads = 0;
        var freed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var storage = new GrainStorageInterceptor(_ => Task.CompletedTask,
            name => name == SubtaskGrain.StateName && Volatile.Read(ref holdSubtaskReads) == 1 ? freed.Task : Task.CompletedTask);
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"while [ ! -f '{dir.File("release")}' ]; do sleep 0.05; done"),
        }, storage.Install);
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint" });
        await Eventually.TrueAsync(async () => (await cluster.Client.GetAsync(task.TaskId)).Subtasks.Single().State == SubtaskState.InProgress,
            "the part never started");
        // The task and its part come back from storage at their next call; the part's read then hangs.
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Volatile.Write(ref holdSubtaskReads, 1);

        // Without a bound the read waits for the part until Orleans' response timeout (30 s), and fails.
        var read = await cluster.Client.GetAsync(task.TaskId).WaitAsync(TimeSpan.FromSeconds(20));
        Volatile.Write(ref holdSubtaskReads, 0);
        freed.SetResult();
        File.WriteAllText(cluster.Dir.File("release"), "");
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.False(read.State.IsFinal());
        Assert.Equal(TaskState.Completed, result.State);
    }
}
