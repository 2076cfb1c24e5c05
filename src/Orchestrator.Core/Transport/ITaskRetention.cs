using Orleans.Runtime;

namespace Orchestrator.Core.Transport;

/// <summary>A grain's stored state: which grain, and the name it stores the state under.</summary>
public readonly record struct StoredState(GrainId GrainId, string StateName);

/// <summary>
/// Everything one task keeps in the store: the logs of the task and its subtasks, the results of its subtasks (by id;
/// only subtasks go to workers, so only they have one) and the grain states that exist for it.
/// </summary>
public sealed record TaskRecords(IReadOnlyList<string> LogIds, IReadOnlyList<string> ResultIds, IReadOnlyList<StoredState> States);

/// <summary>
/// How a finished task's records go away: an expiry set when the task becomes final (so the store drops them by
/// itself, whatever the number of tasks, with nothing to scan), lifted when it runs again, or removal at once (prune).
/// </summary>
public interface ITaskRetention
{
    /// <summary>The records disappear after <paramref name="after"/>; later writes to them keep that expiry.</summary>
    Task ExpireAsync(TaskRecords records, TimeSpan after, CancellationToken cancellationToken = default);

    /// <summary>Lifts the expiry: the task runs again, or retention is off now.</summary>
    Task KeepAsync(TaskRecords records, CancellationToken cancellationToken = default);

    /// <summary>Removes the log and result records now (grain states are cleared by their grains).</summary>
    Task DeleteAsync(TaskRecords records, CancellationToken cancellationToken = default);
}
