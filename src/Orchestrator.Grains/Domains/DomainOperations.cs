using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Polly;
using Polly.Retry;

namespace Orchestrator.Grains.Domains;

/// <summary>
/// The runtime work of one pool that is under way or recently finished, with the waiters of each. Lives in the pool
/// grain's activation and is touched only in its turns; the work itself runs on the thread pool and reports back.
/// </summary>
internal sealed partial class DomainOperations(string domainType, TimeProvider time, ILogger logger)
{
    /// <summary>How long a finished operation stays readable for a caller that polls for it.</summary>
    private static readonly TimeSpan KeepFinished = TimeSpan.FromMinutes(5);

    /// <summary>A waiter's longest wait in one call, far below Orleans' 30 s response timeout.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public int Running => _entries.Values.Count(e => e.Operation.State == DomainOperationState.Running);

    /// <summary>Whether an instance is being started (a spawn, or a replacement with its successor).</summary>
    public bool Starting => _entries.Values.Any(e => e.Operation is { State: DomainOperationState.Running, Kind: DomainOperationKind.Spawn or DomainOperationKind.Replace });

    /// <summary>Spawns under way, each an instance the runtime may not list yet (a replacement's successor takes its predecessor's place).</summary>
    public int Spawning => _entries.Values.Count(e => e.Operation is { State: DomainOperationState.Running, Kind: DomainOperationKind.Spawn });

    /// <summary>
    /// Records an operation and runs <paramref name="work"/> on the thread pool, cancelled at the deadline; its outcome
    /// goes to <paramref name="reportBack"/> (a call to the pool grain, so that it is applied in the grain's own turn).
    /// </summary>
    public DomainOperation Start(DomainOperationKind kind, IReadOnlyList<string> domainIds, TimeSpan timeout,
        Func<DomainOperation, CancellationToken, Task<DomainOperation>> work, Func<DomainOperation, Task> reportBack)
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
        using (ExecutionContext.SuppressFlow()) // the caller's request context stays with the caller
        {
            _ = Task.Run(() => RunAsync(operation, work, reportBack));
        }

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
            .Select(e => e.Operation with { State = DomainOperationState.Failed, Error = PastDeadline(e.Operation) })
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

    private async Task RunAsync(DomainOperation operation, Func<DomainOperation, CancellationToken, Task<DomainOperation>> work, Func<DomainOperation, Task> reportBack)
    {
        using var deadline = new CancellationTokenSource(operation.Deadline - operation.StartedAt, time);
        DomainOperation finished;
        try
        {
            finished = await work(operation, deadline.Token) with { State = DomainOperationState.Succeeded };
        }
        catch (Exception e)
        {
            finished = operation with { State = DomainOperationState.Failed, Error = deadline.IsCancellationRequested ? PastDeadline(operation) : e.Message };
        }

        try
        {
            await ReportBack.ExecuteAsync(async _ => await reportBack(finished));
        }
        catch (Exception e)
        {
            LogReportFailed(e, finished.Kind, domainType); // the pool fails it at its deadline instead
        }
    }

    private static string PastDeadline(DomainOperation operation) =>
        $"The {operation.Kind.ToString().ToLowerInvariant()} of a {operation.DomainType} domain did not finish within {(operation.Deadline - operation.StartedAt).TotalSeconds:0} s (Orchestrator:DomainOperationTimeout).";

    private static readonly ResiliencePipeline ReportBack = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(500), BackoffType = DelayBackoffType.Exponential })
        .Build();

    [LoggerMessage(Level = LogLevel.Error, Message = "The {Kind} of a {Domain} domain finished, but could not report back; it fails at its deadline")]
    private partial void LogReportFailed(Exception e, DomainOperationKind kind, string domain);

    private sealed class Entry(DomainOperation operation)
    {
        public DomainOperation Operation { get; set; } = operation;
        public DateTimeOffset? FinishedAt { get; set; }
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
