using System.Collections.Concurrent;
using Orchestrator.Contracts;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>
/// What a fault-injection run saw: the tasks the orchestrator accepted, every observation of each task in the order it
/// was made, and, read at the end, how often each subtask's agent started, how often its log says it completed, and
/// what is left in the work queues.
/// </summary>
public sealed record History(
    IReadOnlyCollection<string> Accepted,
    IReadOnlyDictionary<string, IReadOnlyList<TaskView>> Observations,
    IReadOnlyDictionary<string, int> AgentRuns,
    IReadOnlyDictionary<string, int> CompletionsLogged,
    IReadOnlyDictionary<string, long> LeftInQueues);

/// <summary>Collects a <see cref="History"/> while tasks run; thread-safe.</summary>
public sealed class HistoryRecorder
{
    private readonly ConcurrentDictionary<string, List<TaskView>> _observations = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _accepted = new();

    public IReadOnlyCollection<string> Accepted => _accepted.ToArray();

    public void Accept(string taskId)
    {
        _observations.TryAdd(taskId, []);
        _accepted.Enqueue(taskId);
    }

    /// <summary>Observations of one task must come from one reader, one after another, so that their order is the order they were made in.</summary>
    public void Observed(TaskView view)
    {
        var list = _observations.GetOrAdd(view.TaskId, _ => []);
        lock (list)
        {
            list.Add(view);
        }
    }

    public TaskView? Last(string taskId)
    {
        if (!_observations.TryGetValue(taskId, out var list))
        {
            return null;
        }

        lock (list)
        {
            return list.Count == 0 ? null : list[^1];
        }
    }

    public History Complete(IReadOnlyDictionary<string, int> agentRuns, IReadOnlyDictionary<string, int> completionsLogged, IReadOnlyDictionary<string, long> leftInQueues) =>
        new(Accepted, _observations.ToDictionary(e => e.Key, e => { lock (e.Value) { return (IReadOnlyList<TaskView>)e.Value.ToArray(); } }), agentRuns, completionsLogged, leftInQueues);
}
