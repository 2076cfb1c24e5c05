using Orchestrator.Contracts;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>The checker finds each broken promise in a made-up history, and nothing in a sound one.</summary>
public sealed class HistoryCheckerTests
{
    private const string TaskId = "7d6a1c52-0000-0000-0000-000000000001";
    private const string SubtaskId = TaskId + "-backend";

    private static TaskView View(TaskState state, SubtaskState subtask, int attempts = 1, string? error = null) => new()
    {
        TaskId = TaskId,
        Description = "Add an API endpoint",
        State = state,
        Subtasks = [new SubtaskView { TaskId = SubtaskId, Domain = "backend", State = subtask, Attempts = attempts, Error = error }],
    };

    private static History HistoryOf(TaskView[] observed, int runs = 1, int completions = 1, long leftInActive = 0) => new(
        [TaskId],
        new Dictionary<string, IReadOnlyList<TaskView>> { [TaskId] = observed },
        new Dictionary<string, int> { [SubtaskId] = runs },
        new Dictionary<string, int> { [SubtaskId] = completions },
        new Dictionary<string, long> { ["tasks:active:backend"] = leftInActive });

    private static readonly TaskView Running = View(TaskState.InProgress, SubtaskState.InProgress);
    private static readonly TaskView Completed = View(TaskState.Completed, SubtaskState.Completed);

    [Fact]
    public void A_task_that_completes_once_and_stays_completed_breaks_no_promise() =>
        Assert.Empty(HistoryChecker.Violations(HistoryOf([Running, Completed, Completed])));

    [Fact]
    public void An_accepted_task_never_seen_final_is_a_lost_task() =>
        Assert.Contains("never reached a final state", Assert.Single(HistoryChecker.Violations(HistoryOf([Running], completions: 0))));

    [Fact]
    public void A_task_whose_final_state_changes_later_is_reported() =>
        Assert.Contains("changed after it was final", Assert.Single(HistoryChecker.Violations(
            HistoryOf([Completed, View(TaskState.Failed, SubtaskState.Failed, error: "lost")]))));

    [Fact]
    public void A_final_subtask_run_again_after_the_task_was_final_is_reported() =>
        Assert.Contains("changed after it was final", Assert.Single(HistoryChecker.Violations(
            HistoryOf([Completed, View(TaskState.Completed, SubtaskState.Completed, attempts: 2)], runs: 2))));

    [Fact]
    public void A_final_task_with_a_subtask_still_running_is_reported() =>
        Assert.Contains("while its subtask", Assert.Single(HistoryChecker.Violations(
            HistoryOf([View(TaskState.Failed, SubtaskState.InProgress)], completions: 0))));

    [Fact]
    public void A_failure_without_a_reason_is_reported() =>
        Assert.Contains("without a reason", Assert.Single(HistoryChecker.Violations(
            HistoryOf([View(TaskState.Failed, SubtaskState.Failed, error: " ")], completions: 0))));

    [Fact]
    public void A_subtask_completed_twice_is_reported() =>
        Assert.Contains("completed 2 times", Assert.Single(HistoryChecker.Violations(HistoryOf([Completed], completions: 2))));

    [Fact]
    public void An_agent_started_more_often_than_the_recorded_attempts_is_reported() =>
        Assert.Contains("started 2 times", Assert.Single(HistoryChecker.Violations(HistoryOf([Completed], runs: 2))));

    [Fact]
    public void A_completion_no_agent_ever_started_is_reported() =>
        Assert.Contains("no agent ever started it", Assert.Single(HistoryChecker.Violations(HistoryOf([Completed], runs: 0))));

    [Fact]
    public void A_message_left_in_a_work_queue_is_reported() =>
        Assert.Contains("left in tasks:active:backend", Assert.Single(HistoryChecker.Violations(HistoryOf([Completed], leftInActive: 1))));
}
