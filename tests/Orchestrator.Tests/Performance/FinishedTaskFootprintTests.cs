using Orchestrator.Cli.Commands;
using Orchestrator.Contracts;
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

    private static Task<int> TaskActivationsAsync(OrchestratorCluster cluster) => TaskActivations.CountAsync(cluster.Silo);
}
