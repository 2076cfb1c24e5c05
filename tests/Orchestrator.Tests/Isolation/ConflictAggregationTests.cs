using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;

namespace Orchestrator.Tests.Isolation;

/// <summary>How a subtask whose work did not merge shows in the aggregated result.</summary>
public sealed class ConflictAggregationTests
{
    private static SubtaskView Completed(string domain, string output) => new() { TaskId = domain, Domain = domain, State = SubtaskState.Completed, OutputJson = output };

    [Fact]
    public void A_completed_subtask_with_conflicts_makes_the_task_partially_completed_and_lists_them()
    {
        SubtaskView[] subtasks =
        [
            Completed("backend", """{"files_modified":["config.json"],"merge":"merged","conflicts":[]}"""),
            Completed("frontend", """{"files_modified":["config.json"],"merge":"conflict","branch":"orchestrator/abcd1234/frontend-1","conflicts":["config.json"]}"""),
        ];

        var json = ResultAggregator.ToResultJson(new TaskView { TaskId = "t", Description = "d", State = ResultAggregator.StateOf(subtasks, false), Subtasks = subtasks });

        Assert.Equal(TaskState.PartiallyCompleted, ResultAggregator.StateOf(subtasks, false));
        Assert.Equal("partially_completed", (string)json["status"]!);
        Assert.Empty(json["subtasks"]![0]!["conflicts"]!.AsArray());
        Assert.Equal(["config.json"], json["subtasks"]![1]!["conflicts"]!.AsArray().Select(f => (string)f!));
    }

    [Fact]
    public void Completed_subtasks_without_conflicts_complete_the_task()
    {
        SubtaskView[] subtasks = [Completed("backend", """{"merge":"merged","conflicts":[]}"""), Completed("frontend", """{"stdout":"reference runner, no merge fields"}""")];

        Assert.Equal(TaskState.Completed, ResultAggregator.StateOf(subtasks, false));
    }
}
