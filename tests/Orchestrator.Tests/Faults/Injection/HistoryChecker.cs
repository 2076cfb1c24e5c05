using Orchestrator.Contracts;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>
/// What the orchestrator promises under faults (README, Guarantees), checked over a whole <see cref="History"/>:
/// every accepted task reaches exactly one final state and stays there, with every subtask final too; a failure has a
/// reason; no subtask completes twice; an agent starts no more often than its subtask's recorded attempts, and a
/// completed subtask's agent did start (at-least-once, at-most-attempts); nothing is left in the work queues.
/// </summary>
public static class HistoryChecker
{
    public static IReadOnlyList<string> Violations(History history)
    {
        var violations = new List<string>();
        foreach (var taskId in history.Accepted)
        {
            var observed = history.Observations.GetValueOrDefault(taskId) ?? [];
            var firstFinal = observed.FirstOrDefault(v => v.State.IsFinal());
            if (firstFinal is null || !observed[^1].State.IsFinal())
            {
                violations.Add($"task {taskId} never reached a final state (last seen: {(observed.Count == 0 ? "never" : observed[^1].State.ToWire())})");
                continue;
            }

            foreach (var later in observed.SkipWhile(v => !ReferenceEquals(v, firstFinal)).Skip(1))
            {
                if (Outcome(later) != Outcome(firstFinal))
                {
                    violations.Add($"task {taskId} changed after it was final: {Outcome(firstFinal)} became {Outcome(later)}");
                    break;
                }
            }

            var final = observed[^1];
            foreach (var subtask in final.Subtasks)
            {
                violations.AddRange(SubtaskViolations(taskId, subtask, history));
            }
        }

        violations.AddRange(history.LeftInQueues.Where(q => q.Value > 0).Select(q => $"{q.Value} message(s) left in {q.Key}"));
        return violations;
    }

    private static IEnumerable<string> SubtaskViolations(string taskId, SubtaskView subtask, History history)
    {
        var id = subtask.TaskId;
        if (!subtask.State.IsFinal())
        {
            yield return $"task {taskId} is final while its subtask {id} is {subtask.State.ToWire()}";
        }

        if (subtask.State is SubtaskState.Failed or SubtaskState.TimedOut && string.IsNullOrWhiteSpace(subtask.Error))
        {
            yield return $"subtask {id} {subtask.State.ToWire()} without a reason";
        }

        var completions = history.CompletionsLogged.GetValueOrDefault(id);
        if (completions > 1)
        {
            yield return $"subtask {id} completed {completions} times";
        }

        var runs = history.AgentRuns.GetValueOrDefault(id);
        if (runs > subtask.Attempts)
        {
            yield return $"subtask {id}: its agent started {runs} times, more than its {subtask.Attempts} recorded attempt(s)";
        }

        if (subtask.State == SubtaskState.Completed && runs == 0)
        {
            yield return $"subtask {id} completed although no agent ever started it";
        }
    }

    /// <summary>What must not change once final: the task's state and each subtask's state and attempts.</summary>
    private static string Outcome(TaskView view) =>
        $"{view.State.ToWire()} [{string.Join(", ", view.Subtasks.Select(s => $"{s.Domain}: {s.State.ToWire()} after {s.Attempts}"))}]";
}
