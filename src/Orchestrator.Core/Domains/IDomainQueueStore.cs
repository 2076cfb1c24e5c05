using Orchestrator.Contracts;

namespace Orchestrator.Core.Domains;

/// <summary>
/// Where a domain scheduler keeps its queue and in-flight slots, one record per subtask, changed record by record: a
/// change costs the same with ten entries queued or a hundred thousand (a single state blob would be rewritten whole).
/// </summary>
/// <remarks>
/// Fenced by activation: <see cref="OpenAsync"/> makes the caller the only writer of the domain's records; a writer
/// opened earlier (a scheduler activation left on a silo declared dead) gets <see cref="QueueStoreFencedException"/>
/// from then on, and must let its activation go.
/// </remarks>
public interface IDomainQueueStore
{
    /// <summary>Takes the domain's records over and returns them, with the fence its writes must carry.</summary>
    Task<QueueSnapshot> OpenAsync(string domain, CancellationToken cancellationToken = default);

    /// <summary>Writes the records given and removes the subtasks named, in one step.</summary>
    Task SaveAsync(string domain, long fence, IReadOnlyCollection<QueueRecord> records, IReadOnlyCollection<string> removed, CancellationToken cancellationToken = default);

    /// <summary>Whether the domain's queue is held (an operator paused it): kept across restarts.</summary>
    Task SetPausedAsync(string domain, long fence, bool paused, CancellationToken cancellationToken = default);
}

/// <param name="Fence">What every write of this opener carries; a later opener's makes it stale.</param>
/// <param name="Paused">The domain's queue is held: nothing is dispatched until it is resumed.</param>
public sealed record QueueSnapshot(long Fence, IReadOnlyList<QueueRecord> Records, bool Paused);

/// <summary>A subtask waiting in its domain's queue (<see cref="InFlight"/> false) or holding one of its slots.</summary>
/// <param name="At">When it may be dispatched (queued), or its deadline (in flight).</param>
/// <param name="Sequence">First come first served within a priority: the order it became ready in.</param>
public sealed record QueueRecord(string SubtaskId, int Attempt, bool InFlight, TaskPriority Priority, int TimeoutSeconds, DateTimeOffset At, long Sequence)
{
    /// <summary>A line of text: <c>q|attempt|priority|timeout|at (unix ms)|sequence</c>, <c>f</c> for in flight.</summary>
    public string Encode() =>
        $"{(InFlight ? 'f' : 'q')}|{Attempt}|{(int)Priority}|{TimeoutSeconds}|{At.ToUnixTimeMilliseconds()}|{Sequence}";

    public static QueueRecord Decode(string subtaskId, string text)
    {
        var parts = text.Split('|');
        if (parts.Length != 6 || parts[0] is not ("q" or "f"))
        {
            throw new FormatException($"The queue record of {subtaskId} is not q|f|attempt|priority|timeout|at|sequence: '{text}'.");
        }

        return new QueueRecord(subtaskId, int.Parse(parts[1]), parts[0] == "f", (TaskPriority)int.Parse(parts[2]), int.Parse(parts[3]),
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[4])), long.Parse(parts[5]));
    }
}

/// <summary>A newer scheduler activation of the domain has taken its records over: this one's memory is stale.</summary>
public sealed class QueueStoreFencedException(string domain)
    : Exception($"The {domain} scheduler's records were taken over by a newer activation; this one stops.");

/// <summary>The records in this process's memory: the store of a silo without Redis, which keeps them across activations (not restarts).</summary>
public sealed class InMemoryDomainQueueStore : IDomainQueueStore
{
    private readonly Dictionary<string, Domain> _domains = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public Task<QueueSnapshot> OpenAsync(string domain, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_domains.TryGetValue(domain, out var known))
            {
                _domains[domain] = known = new Domain();
            }

            known.Fence++;
            return Task.FromResult(new QueueSnapshot(known.Fence, known.Records.Values.ToArray(), known.Paused));
        }
    }

    public Task SaveAsync(string domain, long fence, IReadOnlyCollection<QueueRecord> records, IReadOnlyCollection<string> removed, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            var known = Fenced(domain, fence);
            foreach (var record in records)
            {
                known.Records[record.SubtaskId] = record;
            }

            foreach (var id in removed)
            {
                known.Records.Remove(id);
            }
        }

        return Task.CompletedTask;
    }

    public Task SetPausedAsync(string domain, long fence, bool paused, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            Fenced(domain, fence).Paused = paused;
        }

        return Task.CompletedTask;
    }

    private Domain Fenced(string domain, long fence) =>
        _domains.TryGetValue(domain, out var known) && known.Fence == fence ? known : throw new QueueStoreFencedException(domain);

    private sealed class Domain
    {
        public long Fence { get; set; }
        public bool Paused { get; set; }
        public Dictionary<string, QueueRecord> Records { get; } = new(StringComparer.Ordinal);
    }
}
