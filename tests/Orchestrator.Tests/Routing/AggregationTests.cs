using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;

namespace Orchestrator.Tests.Routing;

public sealed class AggregationTests
{
    private static SubtaskView Subtask(string domain, SubtaskState state, string? output = null) =>
        new() { TaskId = domain + "-id", Domain = domain, State = state, OutputJson = output };

    [Fact]
    public void All_completed_is_completed() =>
        Assert.Equal(TaskState.Completed, ResultAggregator.StateOf([Subtask("a", SubtaskState.Completed), Subtask("b", SubtaskState.Completed)], false));

    [Fact]
    public void Some_completed_is_partially_completed() =>
        Assert.Equal(TaskState.PartiallyCompleted, ResultAggregator.StateOf([Subtask("a", SubtaskState.Completed), Subtask("b", SubtaskState.TimedOut)], false));

    [Fact]
    public void None_completed_is_failed() =>
        Assert.Equal(TaskState.Failed, ResultAggregator.StateOf([Subtask("a", SubtaskState.Failed), Subtask("b", SubtaskState.TimedOut)], false));

    [Fact]
    public void A_cancelled_task_that_did_not_complete_everywhere_is_cancelled() =>
        Assert.Equal(TaskState.Cancelled, ResultAggregator.StateOf([Subtask("a", SubtaskState.Completed), Subtask("b", SubtaskState.Cancelled)], true));

    [Fact]
    public void Any_unfinished_subtask_keeps_the_task_in_progress() =>
        Assert.Equal(TaskState.InProgress, ResultAggregator.StateOf([Subtask("a", SubtaskState.Completed), Subtask("b", SubtaskState.Dispatched)], false));

    [Fact]
    public void The_result_has_the_seed_shape_with_files_of_completed_subtasks_only()
    {
        var task = new TaskView
        {
            TaskId = "t",
            Description = "d",
            State = TaskState.PartiallyCompleted,
            Subtasks =
            [
                Subtask("backend", SubtaskState.Completed, """{"stdout":"ok","files_created":["api.js","shared.md"],"files_modified":["index.js"]}"""),
                Subtask("frontend", SubtaskState.Completed, """{"files_created":["form.jsx","shared.md"],"files_modified":[]}"""),
                Subtask("devops", SubtaskState.Failed, """{"files_created":["half-written.yml"]}""") with { Error = "Agent exited with code 1" },
            ],
        };

        var json = ResultAggregator.ToResultJson(task);

        Assert.Equal("partially_completed", (string?)json["status"]);
        Assert.Equal(["backend", "frontend", "devops"], json["domains_used"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["api.js", "shared.md", "form.jsx"], json["files_created"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["index.js"], json["files_modified"]!.AsArray().Select(n => (string?)n));
        var devops = json["subtasks"]!.AsArray().Single(s => (string?)s!["domain"] == "devops")!;
        Assert.Equal("failed", (string?)devops["status"]);
        Assert.Equal("Agent exited with code 1", (string?)devops["error"]);
        Assert.Equal("devops-id", (string?)devops["task_id"]);
        Assert.NotNull(devops["output"]);
    }

    [Fact]
    public void An_output_that_is_not_json_has_no_files() =>
        Assert.Empty(ResultAggregator.FilesOf(Subtask("a", SubtaskState.Completed, "plain text"), "files_created"));
}
