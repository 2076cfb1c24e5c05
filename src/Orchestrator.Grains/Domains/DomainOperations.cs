using Orchestrator.Contracts;

namespace Orchestrator.Grains.Domains;

/// <summary>
/// The runtime work of one pool that is under way or recently finished, with the waiters of each. Lives in the pool
/// grain's activation and is touched only in its turns; the work itself runs elsewhere and reports back.
/// </summary>
internal sealed class DomainOperations(string domainType, TimeProvider time)
{
    /// <summary>How long a finished operation stays readable for a caller that polls for it.</summary>
    private static readonly TimeSpan KeepFinished = TimeSpan.FromMinutes(5);

    /// <summary>A waiter's longest wait in one call, far below Orleans' 30 s response timeout.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public int Running => _entries.Values.Count(e => e.Operation.State == DomainOperationState.Running);

    /// <summary>Whether an instance is being started (a spawn, or a replacement with its successor).</summary>
    public bool Starting => _entries.Values.Any(e => e.Operation is { State: DomainOperationState.Running, Kind: DomainOperationKind.Spawn or DomainOperationKind.Replace });

    public DomainOperation Start(DomainOperationKind kind, IReadOnlyList<string> domainIds, TimeSpan timeout)
    {
        var now = time.GetUtcNow();
        var operation = new DomainOperation
        {
            OperationId = Guid.NewGuid().ToString("N"),
            DomainType = domainType,
            Kind = kind,
            State = DomainOperationState.Running,
            StartedAt = now,
            Deadline = now + timeout,
            DomainIds = domainIds,
        };
        _entries[operation.OperationId] = new Entry(operation);
        return operation;
    }

    /// <summary>Whether a running operation is about this instance (so that health checks leave it alone).</summary>
    public bool Touches(string domainId) =>
        _entries.Values.Any(e => e.Operation.State == DomainOperationState.Running && e.Operation.DomainIds.Contains(domainId));

    /// <summary>
    /// Records the outcome and wakes the waiters; false when it had already finished (failed at its deadline). One
    /// this activation never started (it began before a reactivation) is still to be acted on: true.
    /// </summary>
    public bool Finish(DomainOperation finished)
    {
        if (!_entries.TryGetValue(finished.OperationId, out var entry))
        {
            return true;
        }

        if (entry.Operation.State != DomainOperationState.Running)
        {
            return false;
        }

        entry.Operation = finished;
        entry.FinishedAt = time.GetUtcNow();
        entry.Done.TrySetResult();
        return true;
    }

    /// <summary>Fails the running operations whose deadline has passed (their work is cancelled there too) and forgets old finished ones.</summary>
    public IReadOnlyList<DomainOperation> Expire()
    {
        var now = time.GetUtcNow();
        foreach (var (id, _) in _entries.Where(e => e.Value.FinishedAt + KeepFinished < now).ToArray())
        {
            _entries.Remove(id);
        }

        var expired = _entries.Values
            .Where(e => e.Operation.State == DomainOperationState.Running && e.Operation.Deadline <= now)
            .Select(e => e.Operation with
            {
                State = DomainOperationState.Failed,
                Error = $"The {e.Operation.Kind.ToString().ToLowerInvariant()} of a {domainType} domain did not finish within {(e.Operation.Deadline - e.Operation.StartedAt).TotalSeconds:0} s (Orchestrator:DomainOperationTimeout).",
            })
            .ToArray();
        foreach (var operation in expired)
        {
            Finish(operation);
        }

        return expired;
    }

    public async Task<DomainOperation?> WaitAsync(string operationId, TimeSpan maxWait)
    {
        if (!_entries.TryGetValue(operationId, out var entry))
        {
            return null;
        }

        if (entry.Operation.State == DomainOperationState.Running)
        {
            var wait = maxWait < TimeSpan.Zero ? TimeSpan.Zero : maxWait > MaxWait ? MaxWait : maxWait;
            await Task.WhenAny(entry.Done.Task, Task.Delay(wait, time));
        }

        return entry.Operation;
    }

    private sealed class Entry(DomainOperation operation)
    {
        public DomainOperation Operation { get; set; } = operation;
        public DateTimeOffset? FinishedAt { get; set; }
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
