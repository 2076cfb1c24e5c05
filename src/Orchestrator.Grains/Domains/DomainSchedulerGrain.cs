using Orleans.Concurrency;
using Polly;
using Polly.Retry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Grains.Persistence;

namespace Orchestrator.Grains.Domains;

/// <summary>The queue as earlier versions stored it, one blob rewritten whole on every change; taken over into the <see cref="IDomainQueueStore"/> once.</summary>
[GenerateSerializer, Alias("orchestrator.scheduler-state")]
public sealed class DomainSchedulerState
{
    [Id(0)] public List<QueueEntry> Queued { get; set; } = [];
    [Id(1)] public List<InFlightEntry> InFlight { get; set; } = [];
}

[GenerateSerializer, Alias("orchestrator.in-flight-entry")]
public sealed record InFlightEntry(
    [property: Id(0)] string SubtaskId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] DateTimeOffset Deadline);

/// <summary>
/// The scheduler of one domain type. Queued work stays here, in priority order (high, normal, low; first come
/// first served within a priority), and is handed to the workers only as far ahead as they can take it, so a
/// high-priority task never waits behind a backlog sitting in the workers' queue. It also watches the deadlines
/// of what is in flight. Reentrant: dispatches run concurrently, state changes happen between awaits and are
/// saved in coalesced batches of the records that changed (<see cref="DomainQueueJournal"/>), so this grain neither
/// serialises tasks behind storage writes nor pays for the whole queue on each change.
/// </summary>
[Reentrant]
public sealed partial class DomainSchedulerGrain(
    [PersistentState("scheduler", StorageNames.Orchestrator)] IPersistentState<DomainSchedulerState> earlierBlob,
    IDomainQueueStore store,
    IOptions<OrchestratorOptions> options,
    TimeProvider time,
    ILogger<DomainSchedulerGrain> logger) : Grain, IDomainSchedulerGrain, IRemindable
{
    private const string WakeReminder = "wake";

    private readonly Dictionary<string, QueueEntry> _queued = new(StringComparer.Ordinal);
    private readonly SortedSet<(int Rank, long Seq, string SubtaskId)> _ready = [];
    private readonly Dictionary<string, (int Rank, long Seq)> _readyKeys = new(StringComparer.Ordinal);
    private readonly SortedSet<(DateTimeOffset NotBefore, string SubtaskId)> _delayed = [];
    private readonly int[] _queuedByPriority = new int[3];
    private readonly Dictionary<string, InFlight> _inFlight = new(StringComparer.Ordinal);
    private DomainQueueJournal _journal = null!;
    private long _seq;
    private int _capacity;
    private bool _askedForDomain;

    /// <summary>The attempts just failed for want of a domain: on their way out (or to a new attempt), they ask for none again.</summary>
    private readonly HashSet<(string SubtaskId, int Attempt)> _failedUnavailable = [];
    private bool _waking;
    private bool _paused;

    // Kept: Orleans makes a new string of the key on each call.
    private string Domain => field ??= this.GetPrimaryKeyString();

    private IDomainPoolGrain Pool => GrainFactory.Reference<IDomainPoolGrain>(Domain);

    /// <summary>At least one message may wait in the workers' queue while a domain is being found or spawned.</summary>
    private int EffectiveCapacity => Math.Max(_capacity, 1);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _journal = new DomainQueueJournal(store, Domain, RecordOf, DeactivateOnIdle);
        var (fence, records, paused) = await store.OpenAsync(Domain, cancellationToken);
        _journal.Fence = fence;
        _paused = paused;
        foreach (var record in records.Where(r => r.InFlight))
        {
            _inFlight[record.SubtaskId] = new InFlight(record.Attempt, record.At);
        }

        foreach (var record in records.Where(r => !r.InFlight).OrderBy(r => r.Sequence).ThenBy(r => r.At))
        {
            AddQueued(new QueueEntry(record.SubtaskId, record.Priority, record.TimeoutSeconds, record.Attempt, record.At));
        }

        await TakeOverEarlierBlobAsync();

        this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(options.Value.SchedulerTick, options.Value.SchedulerTick) { Interleave = true });
        if (!IsIdle)
        {
            await KeepWakingAsync();
        }

        if (_inFlight.Count > 0)
        {
            LogRecovered(Domain, _queued.Count, _inFlight.Count);
            // Results published while no silo listened are found in the results store.
            await ReconcileInFlight();
        }

        if (_queued.Count > 0 || _inFlight.Count > 0)
        {
            AskForDomain();
        }

        Pump();
    }

    /// <summary>
    /// The reminder brings this scheduler back after a restart while it has work, so queued work and deadlines are
    /// never orphaned. An idle scheduler drops it and may deactivate; the next <see cref="Enqueue"/> sets it again.
    /// </summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!IsIdle || await this.GetReminder(WakeReminder) is not { } reminder)
        {
            return;
        }

        _waking = false; // first: work that arrives meanwhile registers it anew
        await this.UnregisterReminder(reminder);
        if (!IsIdle)
        {
            await KeepWakingAsync();
        }
    }

    private bool IsIdle => _queued.Count == 0 && _inFlight.Count == 0;

    private async Task KeepWakingAsync()
    {
        if (!_waking)
        {
            await this.RegisterOrUpdateReminder(WakeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
            _waking = true;
        }
    }

    public async Task Enqueue(QueueEntry entry)
    {
        // A repeated Submit of work already queued or dispatched changes nothing; only a newer attempt replaces it.
        if ((_inFlight.TryGetValue(entry.SubtaskId, out var slot) && slot.Attempt >= entry.Attempt)
            || (_queued.TryGetValue(entry.SubtaskId, out var queued) && queued.Attempt >= entry.Attempt))
        {
            return;
        }

        _inFlight.Remove(entry.SubtaskId);
        RemoveQueued(entry.SubtaskId);
        AddQueued(entry);
        _journal.Changed(entry.SubtaskId);
        if (_capacity == 0)
        {
            AskForDomain();
        }

        Pump();
        await Task.WhenAll(KeepWakingAsync(), _journal.SaveAsync());
    }

    public Task Release(string subtaskId)
    {
        var removed = _inFlight.Remove(subtaskId) | RemoveQueued(subtaskId);
        if (!removed)
        {
            return Task.CompletedTask;
        }

        _journal.Changed(subtaskId);
        Pump();
        return _journal.SaveAsync();
    }

    public Task SetCapacity(int capacity)
    {
        if (capacity != _capacity)
        {
            LogCapacity(Domain, _capacity, capacity);
            _capacity = capacity;
            _askedForDomain = capacity > 0 && _askedForDomain;
            if (capacity == 0 && WaitsForADomain())
            {
                AskForDomain(); // the last worker went away with work waiting: it needs a domain that can run it
            }
        }

        Pump();
        return Task.CompletedTask;
    }

    public Task AgentLost(string agentId) =>
        TellInFlight(subtask => subtask.OnAgentLost(agentId), "agent-lost");

    public Task AgentRestarted(string agentId, string incarnation) =>
        TellInFlight(subtask => subtask.OnAgentRestarted(agentId, incarnation), "agent-restarted");

    /// <summary>Every in-flight subtask hears of it (only a subtask knows which agent holds it) until it acknowledges.</summary>
    private Task TellInFlight(Func<ISubtaskGrain, Task> call, string what)
    {
        foreach (var id in _inFlight.Keys.ToArray())
        {
            _ = RepeatUntilAcknowledged(() => call(GrainFactory.Reference<ISubtaskGrain>(id)), what, id);
        }

        return Task.CompletedTask;
    }

    public Task ReconcileInFlight() =>
        TellInFlight(subtask => subtask.Reconcile(), "reconcile");

    public async Task<SchedulerView> SetPaused(bool paused)
    {
        if (paused != _paused)
        {
            try
            {
                await store.SetPausedAsync(Domain, _journal.Fence, paused);
            }
            catch (QueueStoreFencedException)
            {
                DeactivateOnIdle();
                throw;
            }

            _paused = paused;
            LogPaused(Domain, paused ? "paused" : "resumed");
            Pump();
        }

        return await GetView();
    }

    public Task<SchedulerView> GetView() => Task.FromResult(new SchedulerView
    {
        Paused = _paused,
        Domain = Domain,
        QueuedHigh = _queuedByPriority[(int)TaskPriority.High],
        QueuedNormal = _queuedByPriority[(int)TaskPriority.Normal],
        QueuedLow = _queuedByPriority[(int)TaskPriority.Low],
        InFlight = _inFlight.Count,
        Capacity = _capacity,
    });

    /// <summary>Hands ready work to the workers while they have room.</summary>
    private void Pump()
    {
        var dispatched = false;
        while (!_paused && _inFlight.Count < EffectiveCapacity && _ready.Count > 0)
        {
            var entry = _queued[_ready.Min.SubtaskId];
            RemoveQueued(entry.SubtaskId);
            var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(entry.TimeoutSeconds) + options.Value.DeadlineGrace;
            _inFlight[entry.SubtaskId] = new InFlight(entry.Attempt, deadline);
            _journal.Changed(entry.SubtaskId);
            _ = DispatchAsync(entry);
            dispatched = true;
        }

        if (dispatched)
        {
            _ = Observe(_journal.SaveAsync(), "persist", Domain);
        }
    }

    private async Task DispatchAsync(QueueEntry entry)
    {
        try
        {
            if (!await GrainFactory.Reference<ISubtaskGrain>(entry.SubtaskId).Dispatch(entry.Attempt))
            {
                // The subtask moved on (cancelled, or a newer attempt is queued): free the slot.
                if (_inFlight.TryGetValue(entry.SubtaskId, out var slot) && slot.Attempt == entry.Attempt)
                {
                    _inFlight.Remove(entry.SubtaskId);
                    _journal.Changed(entry.SubtaskId);
                    Pump();
                    await Observe(_journal.SaveAsync(), "persist", Domain);
                }
            }
        }
        catch (Exception e)
        {
            // The message may be out and a worker running it: dispatching the attempt again could run it twice. The slot
            // stays; the subtask decides — in flight, it keeps it; still pending, it queues a fresh attempt. If even that
            // cannot be told, the slot's deadline asks the subtask the same.
            LogDispatchFailed(e, entry.SubtaskId, Domain);
            _ = RepeatUntilAcknowledged(() => GrainFactory.Reference<ISubtaskGrain>(entry.SubtaskId).OnDispatchFailed(entry.Attempt), "dispatch-failed", entry.SubtaskId);
        }
    }

    private Task TickAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var (id, slot) in _inFlight.Where(f => f.Value.Deadline <= now && !f.Value.DeadlineReported).ToArray())
        {
            slot.DeadlineReported = true;
            _ = ReportDeadlineAsync(id, slot);
        }

        while (_delayed.Count > 0 && _delayed.Min.NotBefore <= now)
        {
            var due = _delayed.Min;
            _delayed.Remove(due);
            MakeReady(_queued[due.SubtaskId]);
        }

        Pump();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Tells the subtask its deadline passed, until it acknowledges: a failed call is repeated at the next tick. Once
    /// acknowledged, the subtask has queued a new attempt or released its slot; a slot still held for that attempt
    /// is stale and freed, so a domain never stalls behind work nobody runs.
    /// </summary>
    private async Task ReportDeadlineAsync(string subtaskId, InFlight slot)
    {
        try
        {
            await GrainFactory.Reference<ISubtaskGrain>(subtaskId).OnDeadlinePassed(slot.Attempt);
        }
        catch (Exception e)
        {
            LogBackgroundFailed(e, "deadline", subtaskId, Domain);
            slot.DeadlineReported = false;
            return;
        }

        if (_inFlight.TryGetValue(subtaskId, out var current) && ReferenceEquals(current, slot))
        {
            LogStaleSlot(subtaskId, slot.Attempt, Domain);
            _inFlight.Remove(subtaskId);
            _journal.Changed(subtaskId);
            Pump();
            await Observe(_journal.SaveAsync(), "persist", Domain);
        }
    }

    private void AddQueued(QueueEntry entry)
    {
        _queued[entry.SubtaskId] = entry;
        _queuedByPriority[(int)entry.Priority]++;
        OrchestratorMetrics.QueueChanged(Domain, entry.Priority, +1);
        if (entry.NotBefore <= time.GetUtcNow())
        {
            MakeReady(entry);
        }
        else
        {
            _delayed.Add((entry.NotBefore, entry.SubtaskId));
        }
    }

    private void MakeReady(QueueEntry entry)
    {
        var key = (Rank: -(int)entry.Priority, Seq: ++_seq);
        _readyKeys[entry.SubtaskId] = key;
        _ready.Add((key.Rank, key.Seq, entry.SubtaskId));
    }

    private bool RemoveQueued(string subtaskId)
    {
        if (!_queued.Remove(subtaskId, out var removed))
        {
            return false;
        }

        _queuedByPriority[(int)removed.Priority]--;
        OrchestratorMetrics.QueueChanged(Domain, removed.Priority, -1);
        if (_readyKeys.Remove(subtaskId, out var key))
        {
            _ready.Remove((key.Rank, key.Seq, subtaskId));
        }
        else
        {
            _delayed.Remove((removed.NotBefore, subtaskId));
        }

        return true;
    }

    /// <summary>
    /// Work is queued or in flight that was not just failed for want of a domain: the last instance going away must
    /// not start a spawn for an attempt already told no domain could be had (seen: a crash-looping domain spawned anew
    /// while its failed work was still releasing its slot).
    /// </summary>
    private bool WaitsForADomain() =>
        _queued.Values.Any(q => !_failedUnavailable.Contains((q.SubtaskId, q.Attempt)))
        || _inFlight.Any(f => !_failedUnavailable.Contains((f.Key, f.Value.Attempt)));

    private void AskForDomain()
    {
        if (_askedForDomain)
        {
            return;
        }

        _askedForDomain = true;
        _ = EnsureDomainAsync();
    }

    /// <summary>
    /// Asks the pool for a domain. The pool answers at once and spawns off its turn; a spawn that fails (after its
    /// retry, or past its deadline) comes back as <see cref="DomainUnavailable"/>, so waiting work is never failed
    /// while a spawn is still under way.
    /// </summary>
    private async Task EnsureDomainAsync()
    {
        try
        {
            await Pool.EnsureHealthy();
        }
        catch (Exception e)
        {
            LogNoDomain(e, Domain);
            FailWaiting(e.Message);
        }
    }

    public Task DomainUnavailable(string reason)
    {
        LogDomainUnavailable(Domain, reason);
        FailWaiting(reason);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The seed's flow ends here: the work waiting for this domain fails with the runtime's reason (the retry policy
    /// may try again later), instead of waiting for its deadline.
    /// </summary>
    private void FailWaiting(string reason)
    {
        _askedForDomain = false;
        var waiting = _queued.Values.Select(q => (q.SubtaskId, q.Attempt))
            .Concat(_capacity == 0 ? _inFlight.Select(f => (SubtaskId: f.Key, f.Value.Attempt)) : [])
            .ToArray();
        _failedUnavailable.Clear();
        _failedUnavailable.UnionWith(waiting);
        foreach (var (subtaskId, attempt) in waiting)
        {
            _ = RepeatUntilAcknowledged(() => GrainFactory.Reference<ISubtaskGrain>(subtaskId).OnDomainUnavailable(attempt, reason), "domain-unavailable", subtaskId);
        }
    }

    /// <summary>What the store holds for a subtask: its queue place (with its order among the ready), its slot, or nothing.</summary>
    private QueueRecord? RecordOf(string subtaskId) =>
        _inFlight.TryGetValue(subtaskId, out var slot) ? new QueueRecord(subtaskId, slot.Attempt, InFlight: true, TaskPriority.Normal, 0, slot.Deadline, 0)
        : _queued.TryGetValue(subtaskId, out var entry) ? new QueueRecord(subtaskId, entry.Attempt, InFlight: false, entry.Priority, entry.TimeoutSeconds, entry.NotBefore,
            _readyKeys.TryGetValue(subtaskId, out var key) ? key.Seq : 0)
        : null;

    /// <summary>A queue stored by an earlier version as one blob joins the records once (what the records know already wins), then the blob goes.</summary>
    private async Task TakeOverEarlierBlobAsync()
    {
        var blob = earlierBlob.State;
        if (blob.Queued.Count == 0 && blob.InFlight.Count == 0)
        {
            return;
        }

        foreach (var slot in blob.InFlight.Where(f => !_inFlight.ContainsKey(f.SubtaskId) && !_queued.ContainsKey(f.SubtaskId)))
        {
            _inFlight[slot.SubtaskId] = new InFlight(slot.Attempt, slot.Deadline);
            _journal.Changed(slot.SubtaskId);
        }

        foreach (var entry in blob.Queued.Where(q => !_inFlight.ContainsKey(q.SubtaskId) && !_queued.ContainsKey(q.SubtaskId)))
        {
            AddQueued(entry);
            _journal.Changed(entry.SubtaskId);
        }

        await _journal.SaveAsync();
        await earlierBlob.ClearStateAsync();
    }

    /// <summary>
    /// A state-changing call to a subtask, repeated with backoff until it is acknowledged (the calls are idempotent:
    /// each checks the attempt it is about). What still fails is caught by the attempt's deadline, which is repeated too.
    /// </summary>
    private Task RepeatUntilAcknowledged(Func<Task> call, string what, string id) =>
        Observe(Acknowledged.ExecuteAsync(async _ => await call()).AsTask(), what, id);

    private static readonly ResiliencePipeline Acknowledged = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions { MaxRetryAttempts = 5, Delay = TimeSpan.FromMilliseconds(500), BackoffType = DelayBackoffType.Exponential, UseJitter = true })
        .Build();

    private async Task Observe(Task task, string what, string id)
    {
        try
        {
            await task;
        }
        catch (Exception e)
        {
            LogBackgroundFailed(e, what, id, Domain);
        }
    }

    private sealed class InFlight(int attempt, DateTimeOffset deadline)
    {
        public int Attempt { get; } = attempt;
        public DateTimeOffset Deadline { get; } = deadline;
        public bool DeadlineReported { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduler {Domain} recovered {Queued} queued and {InFlight} in-flight subtasks")]
    private partial void LogRecovered(string domain, int queued, int inFlight);

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduler {Domain} {Change} by an operator")]
    private partial void LogPaused(string domain, string change);

    [LoggerMessage(Level = LogLevel.Information, Message = "Scheduler {Domain} capacity {Old} -> {New}")]
    private partial void LogCapacity(string domain, int old, int @new);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dispatching {SubtaskId} to {Domain} failed; it stays queued")]
    private partial void LogDispatchFailed(Exception e, string subtaskId, string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "No healthy {Domain} domain could be found or spawned")]
    private partial void LogNoDomain(Exception e, string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "No {Domain} domain could be started: {Reason}")]
    private partial void LogDomainUnavailable(string domain, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Freed the slot of {SubtaskId} attempt {Attempt} in {Domain}: its subtask holds no attempt in flight")]
    private partial void LogStaleSlot(string subtaskId, int attempt, string domain);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scheduler {Domain}: {What} for {Id} failed")]
    private partial void LogBackgroundFailed(Exception e, string what, string id, string domain);
}
