using System.Collections.Concurrent;
using Orchestrator.Contracts;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Performance;

/// <summary>
/// What a task costs in grain state writes, the largest part of its cost on Redis: each write is a round trip and a
/// script. A change that adds one shows here, not only as a slower benchmark.
/// </summary>
public sealed class StateWriteTests
{
    [Fact]
    public async Task A_single_domain_task_is_written_twice_by_its_task_and_three_times_by_its_subtask()
    {
        var writes = new ConcurrentQueue<string>();
        var storage = new GrainStorageInterceptor(state =>
        {
            switch (state)
            {
                case TaskGrainState task:
                    writes.Enqueue($"task {task.State.ToWire()}");
                    break;
                case SubtaskGrainState subtask:
                    writes.Enqueue($"subtask {subtask.State.ToWire()}");
                    break;
            }

            return Task.CompletedTask;
        });
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done > api.txt") }, storage.Install);

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        // Queued, taken by an agent, completed; the task: accepted, and its final state. A dispatch is not written (the
        // scheduler's slot holds it), nor the task's view of a subtask that stored its own change.
        Assert.Equal(
            ["subtask pending", "subtask in_progress", "subtask completed", "task completed"],
            writes.Where(w => w != "task pending").ToArray());
        Assert.Single(writes, w => w == "task pending");
    }
}
