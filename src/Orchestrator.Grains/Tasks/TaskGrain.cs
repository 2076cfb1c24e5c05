using System.Diagnostics;
using Orchestrator.Core.Telemetry;
using Orleans.Concurrency;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Transport;
using Orchestrator.Core.Validation;
using Orchestrator.Core.Webhooks;
using Orchestrator.Grains.Persistence;
using Orchestrator.Grains.Webhooks;

namespace Orchestrator.Grains.Tasks;

[GenerateSerializer, Alias("orchestrator.task-grain-state")]
public sealed class TaskGrainState
{
    [Id(0)] public TaskSubmission? Request { get; set; }
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public DateTimeOffset? CompletedAt { get; set; }
    [Id(3)] public List<SubtaskView> Subtasks { get; set; } = [];
    [Id(4)] public bool CancelRequested { get; set; }
    [Id(5)] public long Version { get; set; }
    [Id(6)] public TaskState State { get; set; }
    /// <summary>The workspace's HEAD when the task was accepted; every attempt starts from it.</summary>
    [Id(7)] public string? BaseCommit { get; set; }
    /// <summary>When the stored records of this finished task expire (set once the expiry is in place); null while kept.</summary>
    [Id(8)] public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary>
/// The parent of a task: validates and plans it, starts one subtask per domain, and aggregates their states.
/// Reentrant so that subtasks reporting back never deadlock with a cancel or retry in progress; every state change
/// happens between awaits and is written through one coalescing writer.
/// </summary>
[Reentrant]
public sealed partial class TaskGrain(
    [FromKeyedServices(StorageNames.Orchestrator)] IGrainStorage storage,
    TaskRequestValidator validator,
    TaskPlanner planner,
    ITaskTransport transport,
    ITaskRetention retention,
    IWorkspaceRevision workspace,
    WebhookGuard webhooks,
    IOptions<OrchestratorOptions> options,
    [FromKeyedServices(TaskClock.Key)] TimeProvider time,
    ILogger<TaskGrain> logger) : StateReadOnFirstCallGrain<TaskGrainState>(TaskGrain.StateName, storage), ITaskGrain
{
    public const string StateName = "task";

    protected override string CreatingMethod => nameof(Submit);

    protected override bool IsFinished => _stored?.State.IsFinal() == true;

    /// <summary>How long reading a running task waits for its subtasks' word before it goes on with what it stored, and how often it asks those it did not hear from again.</summary>
    private static readonly TimeSpan SubtaskWordWait = TimeSpan.FromSeconds(5);

    /// <summary>The parts a read did not hear from in time (<see cref="TakeRunningSubtasksWordAsync"/>); null when none.</summary>
    private HashSet<string>? _unheard;

    private IGrainTimer? _askAgain;

    private TimeSpan _askEvery = SubtaskWordWait;

    private static readonly TimeSpan MaxAskEvery = TimeSpan.FromMinutes(1);

    /// <summary>A watcher's wait is cut here: a client cannot keep a timer of this grain alive for longer.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(1);

    private TaskCompletionSource _changed = NewSignal();

    /// <summary>Set once the task's final state is stored; replaced when a retry makes it run again.</summary>
    private TaskCompletionSource _final = NewSignal();

    /// <summary>
    /// The view as last made durable: stored by this task (<see cref="StoreAsync"/>), or showing subtask changes their
    /// subtasks stored before they reported them (<see cref="PublishAsync"/>); null before the task's first write.
    /// </summary>
    private TaskView? _stored;

    // Kept: Orleans makes a new string of the key on each call.
    private string TaskId => field ??= this.GetPrimaryKeyString();

    private TaskGrainState S => StoredState.State;

    protected override async Task OnStateReadAsync()
    {
        _stored = S.Request is null ? null : View(); // as read from the store
        if (S.Request is null)
        {
            return;
        }

        if (S.State.IsFinal() && !Retention.KeepsForever)
        {
            // A final copy may be older than its subtasks (a retry whose own write failed): their word, before its
            // records' expiry is set; waited for without a bound, since an expiry set on a stale copy would stand.
            foreach (var view in await Task.WhenAll(S.Subtasks.Where(s => !NeverStarted(s)).Select(SubtasksWordAsync)))
            {
                Apply(view);
            }

            if (!S.State.IsFinal())
            {
                S.ExpiresAt = null; // it runs again: the retry lifted the expiry before it restarted them
            }
        }
        else if (!S.State.IsFinal())
        {
            await TakeRunningSubtasksWordAsync();
        }

        if (!S.State.IsFinal())
        {
            await StartDependentsAsync();
            await PublishAsync();
            return;
        }

        await OnFinishedReadAsync();
        try
        {
            await NotifyIfFinishedAsync(); // a silo may have died between storing the final state and handing over its webhook
        }
        catch (Exception)
        {
            // Logged; reading the task must not fail for it. The next activation or repeated report hands it over.
        }
    }

    /// <summary>
    /// Notifications may have been lost while this task was not active: the subtasks' own word is taken. The read waits
    /// for it only so long (<see cref="SubtaskWordWait"/>): a part may itself be waiting on this task — telling it of a
    /// change, which waits for this read — while it cannot answer (its activation being let go or its silo stopping
    /// holds every call to it, its interleaving <see cref="ISubtaskGrain.GetView"/> too). Seen as a silo's stop held
    /// for 30 s, and a watcher's read failing at Orleans' response timeout. The parts that did not answer are asked
    /// again until each has (<see cref="AskUnheardAsync"/>): a part whose report was lost reports nothing more.
    /// </summary>
    private async Task TakeRunningSubtasksWordAsync()
    {
        var asked = S.Subtasks.Where(s => !NeverStarted(s)).Select(s => (Known: s, Word: SubtasksWordAsync(s))).ToArray();
        var all = Task.WhenAll(asked.Select(a => a.Word));
        try
        {
            foreach (var view in await all.WaitAsync(SubtaskWordWait, time))
            {
                Apply(view);
            }

            _unheard = null; // all heard: a timer from an earlier read stops at its next tick
            return;
        }
        catch (TimeoutException) when (!all.IsCompleted)
        {
        }

        foreach (var (_, word) in asked.Where(a => a.Word.IsCompleted))
        {
            Apply(await word); // one that failed fails the read, as before: the next call reads again
        }

        _unheard = asked.Where(a => !a.Word.IsCompleted).Select(a => a.Known.TaskId).ToHashSet();
        LogReadWithoutWord(TaskId, SubtaskWordWait.TotalSeconds, string.Join(", ", _unheard));
        foreach (var (known, word) in asked.Where(a => !a.Word.IsCompleted))
        {
            _ = HearLateAsync(known.TaskId, word);
        }

        _askAgain ??= this.RegisterGrainTimer(AskUnheardAsync, new GrainTimerCreationOptions(SubtaskWordWait, SubtaskWordWait) { KeepAlive = true });
    }

    /// <summary>A part's word that came after the read: told to this grain as the part's own report is, through a call (after the read, counted, checked).</summary>
    private async Task HearLateAsync(string subtaskId, Task<SubtaskView> word)
    {
        try
        {
            await this.AsReference<ITaskGrain>().OnSubtaskChanged(await word);
            _unheard?.Remove(subtaskId);
        }
        catch (UnknownTaskException e)
        {
            _unheard?.Remove(subtaskId); // its record is gone: there is no word to wait for
            LogSubtaskUnheard(e, TaskId, subtaskId);
        }
        catch (Exception e)
        {
            LogSubtaskUnheard(e, TaskId, subtaskId); // asked again at the next tick
        }
    }

    /// <summary>
    /// A tick of <see cref="_askAgain"/>: the parts still unheard are asked again, less and less often (up to once a
    /// minute). A tick is a call of this grain, so it waits for the state like any other: should the read itself have
    /// failed since, the tick reads again.
    /// </summary>
    private async Task AskUnheardAsync(CancellationToken cancellationToken)
    {
        if (_unheard is not { Count: > 0 } || S.State.IsFinal())
        {
            _askAgain?.Dispose();
            (_askAgain, _unheard, _askEvery) = (null, null, SubtaskWordWait);
            return;
        }

        await Task.WhenAll(S.Subtasks.Where(s => _unheard.Contains(s.TaskId)).Select(s => HearLateAsync(s.TaskId, SubtasksWordAsync(s))));
        _askEvery = TimeSpan.FromTicks(Math.Min(_askEvery.Ticks * 2, MaxAskEvery.Ticks));
        _askAgain?.Change(_askEvery, _askEvery);
    }

    /// <summary>
    /// A part as its grain has it. One a running task never saw stored may never have been (its start failed with the
    /// submit, and no repeat came): it is started then. Asked first with <see cref="ISubtaskGrain.GetView"/>, which
    /// interleaves, so that a part busy telling this task of a change never waits on this read; one with no record
    /// waits on nothing. A finished or cancelled task starts nothing.
    /// </summary>
    private async Task<SubtaskView> SubtasksWordAsync(SubtaskView known)
    {
        var subtask = GrainFactory.Reference<ISubtaskGrain>(known.TaskId);
        try
        {
            return await subtask.GetView();
        }
        catch (UnknownTaskException) when (known.Revision == 0 && !S.State.IsFinal() && !S.CancelRequested)
        {
            return await subtask.Start(RebuildSpecs([known.TaskId]).Single());
        }
    }

    public async Task<TaskView> Submit(TaskSubmission request)
    {
        if (S.Request is not null)
        {
            // The same id again: a client retrying after a lost reply. Finish starting what may not have started.
            await StartSubtasksAsync(S.Subtasks.Where(s => s.State == SubtaskState.Pending && !NeverStarted(s)).Select(s => s.TaskId).ToHashSet());
            await StartDependentsAsync();
            return View();
        }

        var valid = await webhooks.PrepareAsync(validator.Validate(request), CancellationToken.None);
        using var activity = OrchestratorTelemetry.Start("orchestrator.task", ActivityKind.Server, valid.TraceParent, TaskId);
        var plan = planner.Plan(valid);
        var now = time.GetUtcNow();
        var timeout = valid.TimeoutSeconds ?? options.Value.DefaultTimeoutSeconds;
        var baseCommit = await workspace.HeadAsync(CancellationToken.None);
        var specs = plan.Subtasks.Select(part => new SubtaskSpec
        {
            TaskId = Guid.NewGuid().ToString(),
            ParentTaskId = TaskId,
            Domain = part.Domain,
            Description = part.Description,
            Requirements = part.Requirements,
            ContextJson = valid.ContextJson,
            Workers = part.Workers,
            Priority = valid.Priority,
            TimeoutSeconds = timeout,
            Source = valid.Source,
            CreatedAt = now,
            TraceParent = activity?.Id ?? valid.TraceParent,
            BaseCommit = baseCommit,
            BudgetUsd = valid.BudgetUsd ?? options.Value.Budget.Usd,
            BudgetTokens = valid.BudgetTokens ?? options.Value.Budget.Tokens,
        }).ToArray();

        var created = new TaskGrainState
        {
            Version = 1,
            Request = valid,
            CreatedAt = now,
            State = TaskState.Pending,
            BaseCommit = baseCommit,
            Subtasks = specs.Select(s => new SubtaskView
            {
                TaskId = s.TaskId,
                Domain = s.Domain,
                State = SubtaskState.Pending,
                Requirements = s.Requirements,
                Workers = s.Workers,
                After = plan.Subtasks.Single(p => p.Domain == s.Domain).After,
            }).ToList(),
        };
        if (!await CreateAsync(created))
        {
            return await Submit(request); // stored before this activation: the same id again
        }

        _stored = View();
        WakeWatchers();
        LogSubmitted(TaskId, string.Join(",", plan.Domains), valid.Priority);
        var logged = transport.AppendLogsAsync(TaskId,
        [
            WireFormat.LogLine(now, $"Task accepted with priority {valid.Priority.ToWire()} and a {timeout} s timeout per domain"
                + (baseCommit is null ? "" : $"; the domains start from commit {baseCommit[..12]}")),
            .. plan.Subtasks.Select(p => WireFormat.LogLine(now,
                $"Routed to {p.Domain}{(p.Workers.Count > 0 ? $" ({string.Join(", ", p.Workers)})" : "")} with {p.Requirements.Count} requirement(s)"
                + (p.After.Count > 0 ? $"; starts after {string.Join(", ", p.After)}" : ""))),
        ]);
        _ = Index.Add(new TaskSummary(TaskId, valid.Description, now));

        // Dependents wait: they start, with their dependencies' results, once those completed (StartDependentsAsync).
        await Task.WhenAll(logged, StartSubtasksAsync(plan.Subtasks.Zip(specs).Where(p => p.First.After.Count == 0).Select(p => p.Second.TaskId).ToHashSet(), specs));
        return View();
    }

    public Task<TaskView> GetView() => Task.FromResult(View());

    public async Task<TaskView> WaitForChange(long knownVersion, TimeSpan maxWait)
    {
        EnsureExists();
        if (Watched() is { } seen && seen.Version == knownVersion && !seen.State.IsFinal())
        {
            await ClientWaits.UntilAsync(_changed.Task, maxWait, MaxWait, time);
        }

        return Watched();
    }

    public async Task<TaskView> WaitForResult(TimeSpan maxWait)
    {
        EnsureExists();
        if (!Watched().State.IsFinal())
        {
            await ClientWaits.UntilAsync(_final.Task, maxWait, MaxWait, time);
        }

        return Watched();
    }


    /// <summary>
    /// What watchers see: the task as last made durable (see <see cref="_stored"/>), so that none acts on a change
    /// that may never be; with the current version, which new log lines move too, so that a watcher following the log
    /// wakes for them.
    /// </summary>
    private TaskView Watched() => _stored is { } stored ? stored with { Version = S.Version } : View();

    public async Task<LogPage> GetLogs(LogCursor cursor)
    {
        EnsureExists();
        var sources = S.Subtasks.Select(s => (s.TaskId, s.Domain)).Prepend((TaskId: TaskId, Domain: "orchestrator")).ToArray();
        var pages = await Task.WhenAll(sources.Select(s => transport.ReadLogsAsync(s.TaskId, cursor.OffsetOf(s.TaskId))));
        var entries = new List<LogEntry>();
        var next = new Dictionary<string, long>(cursor.Offsets);
        for (var i = 0; i < sources.Length; i++)
        {
            entries.AddRange(pages[i].Select(line => new LogEntry(sources[i].TaskId, sources[i].Domain, line)));
            next[sources[i].TaskId] = cursor.OffsetOf(sources[i].TaskId) + pages[i].Count;
        }

        // Lines start with "[<ISO time>]", so ordering by that prefix merges the sources in time order (stable within a source).
        var merged = entries.OrderBy(e => e.Line.IndexOf(']') is var end and > 0 ? e.Line[..end] : e.Line, StringComparer.Ordinal).ToArray();
        return new LogPage(merged, new LogCursor(next));
    }

    public async Task<TaskView> Cancel()
    {
        EnsureExists();
        if (S.State.IsFinal())
        {
            return View();
        }

        S.CancelRequested = true;
        CancelWaiting();
        Aggregate();
        await StoreAsync();
        await AddLogAsync("Cancel requested");
        var views = await Task.WhenAll(S.Subtasks.Where(s => !NeverStarted(s)).Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).Cancel()));
        foreach (var view in views)
        {
            Apply(view);
        }

        await StoreAsync();
        return View();
    }

    public async Task<TaskView> Retry()
    {
        EnsureExists();
        if (!S.State.IsFinal())
        {
            throw new TaskConflictException($"Task {TaskId} is still {S.State.ToWire()}; only a finished task can be retried. Cancel it first or wait.");
        }

        var failed = S.Subtasks.Where(s => s.State != SubtaskState.Completed).ToArray();
        if (failed.Length == 0)
        {
            throw new TaskConflictException($"Task {TaskId} completed in every domain; there is nothing to retry.");
        }

        await LiftExpiryAsync();
        _ = Index.Finished(TaskId, null);
        S.CancelRequested = false;
        S.CompletedAt = null;
        await AddLogAsync($"Retrying the parts that did not complete: {string.Join(", ", failed.Select(f => f.Domain))}");
        var views = await Task.WhenAll(failed.Where(s => !NeverStarted(s)).Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).Retry()));
        foreach (var view in views)
        {
            Apply(view);
        }

        WaitAgain(failed);
        Aggregate();
        await StoreAsync();
        await StartDependentsAsync();
        return View();
    }

    public async Task OnSubtaskChanged(SubtaskView subtask)
    {
        if (_purging)
        {
            return;
        }

        if (Apply(subtask))
        {
            await PublishAsync();
        }
        else
        {
            await NotifyIfFinishedAsync(); // a report said again: what the last one could not finish
        }

        await StartDependentsAsync();
    }

    public Task OnActivity()
    {
        // Nothing of the state changed: new log lines only wake the watchers, who read them from the log.
        Changed();
        WakeWatchers();
        return Task.CompletedTask;
    }

    /// <param name="newSpecs">The specs of subtask ids this submit has just made (no record of them can exist, so each
    /// stores its state beside its enqueue: <see cref="ISubtaskGrain.StartNew"/>); null to start stored ones again.</param>
    private async Task StartSubtasksAsync(HashSet<string> ids, IReadOnlyList<SubtaskSpec>? newSpecs = null)
    {
        if (ids.Count == 0)
        {
            return;
        }

        var views = await Task.WhenAll(newSpecs is null
            ? RebuildSpecs(ids).Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).Start(s))
            : newSpecs.Where(s => ids.Contains(s.TaskId)).Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).StartNew(s)));
        var changed = false;
        foreach (var view in views)
        {
            changed |= Apply(view);
        }

        // Only what is new: a part that finished while it was being started has told this task already (this grain is
        // reentrant), and a finished task published again would be written twice.
        if (changed)
        {
            await PublishAsync();
        }
    }

    private SubtaskSpec[] RebuildSpecs(HashSet<string> ids)
    {
        var request = S.Request!;
        return S.Subtasks.Where(s => ids.Contains(s.TaskId)).Select(s => new SubtaskSpec
        {
            TaskId = s.TaskId,
            ParentTaskId = TaskId,
            Domain = s.Domain,
            Description = request.Description,
            Requirements = s.Requirements,
            ContextJson = ContextFor(s),
            Workers = s.Workers,
            Priority = request.Priority,
            TimeoutSeconds = request.TimeoutSeconds ?? options.Value.DefaultTimeoutSeconds,
            Source = request.Source,
            CreatedAt = S.CreatedAt,
            TraceParent = request.TraceParent,
            BaseCommit = BaseCommitFor(s),
            BudgetUsd = request.BudgetUsd ?? options.Value.Budget.Usd,
            BudgetTokens = request.BudgetTokens ?? options.Value.Budget.Tokens,
        }).ToArray();
    }

    /// <summary>Takes a subtask's newer view; false if it was not newer.</summary>
    private bool Apply(SubtaskView subtask)
    {
        var index = S.Subtasks.FindIndex(s => s.TaskId == subtask.TaskId);
        // A dependent this task ended before it started (cancelled, or failed by its dependency) stays ended.
        if (index < 0 || S.Subtasks[index].Revision >= subtask.Revision || (NeverStarted(S.Subtasks[index]) && S.Subtasks[index].State.IsFinal()))
        {
            return false;
        }

        S.Subtasks[index] = subtask with { After = S.Subtasks[index].After }; // its grain does not know its order
        Aggregate();
        return true;
    }

    /// <summary>The task's state from its subtasks' (dependents blocked by a failure failed first); bumps the version.</summary>
    private void Aggregate()
    {
        FailBlockedDependents();
        var before = S.State;
        S.State = ResultAggregator.StateOf(S.Subtasks, S.CancelRequested);
        if (S.State.IsFinal() && !before.IsFinal())
        {
            S.CompletedAt = time.GetUtcNow();
            OrchestratorMetrics.TaskFinished(S.State, S.CompletedAt.Value - S.CreatedAt);
            LogFinished(TaskId, S.State);
            _ = AddLogAsync($"Task {S.State.ToWire()}");
            _ = Index.Finished(TaskId, S.CompletedAt);
        }
        else if (!S.State.IsFinal())
        {
            S.CompletedAt = null;
        }

        Changed();
    }

    private Task AddLogAsync(string text) =>
        transport.AppendLogsAsync(TaskId, [WireFormat.LogLine(time.GetUtcNow(), text)]);

    /// <summary>Bumps the version; the waiters of <see cref="WaitForChange"/> are woken once it is stored (<see cref="StoreAsync"/>).</summary>
    private void Changed() => S.Version++;

    /// <summary>
    /// Makes the subtasks' changes visible. Each subtask stored its own change before it reported it, so a change that
    /// leaves the task unfinished needs no write of its own here (an activation takes the subtasks' word again, see
    /// <see cref="OnStateReadAsync"/>); the task's own facts — its final state, when it finished, its expiry — are stored.
    /// </summary>
    private Task PublishAsync()
    {
        if (S.State.IsFinal())
        {
            return StoreAsync();
        }

        _stored = View();
        WakeWatchers();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Writes the state, then wakes the watchers: none of them ever sees a change that was not stored. A task that just
    /// became final has its records' expiry set beside the write (<see cref="ExpireIfFinishedAsync"/>).
    /// </summary>
    private async Task StoreAsync()
    {
        if (_purging)
        {
            return; // removed meanwhile (this grain is reentrant): a write now would bring it back without its records
        }

        var stored = View();
        var expiring = ExpireIfFinishedAsync();
        var writing = Writer.WriteAsync();
        try
        {
            await Task.WhenAll(expiring, writing);
        }
        finally
        {
            if (writing.IsCompletedSuccessfully)
            {
                _stored = stored;
                WakeWatchers();
            }
        }

        await NotifyIfFinishedAsync();
    }

    private void WakeWatchers()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
        if (_stored?.State.IsFinal() == true)
        {
            _final.TrySetResult();
        }
        else if (_final.Task.IsCompleted)
        {
            _final = NewSignal(); // retried: it runs again
        }
    }

    private void EnsureExists()
    {
        // Past its expiry the store has dropped (or is about to drop) the task; this activation's copy says nothing more.
        if (S.Request is null || _purging || S.ExpiresAt <= time.GetUtcNow())
        {
            DeactivateOnIdle();
            throw new UnknownTaskException(TaskId);
        }
    }

    private TaskView View()
    {
        EnsureExists();
        return new TaskView
        {
            TaskId = TaskId,
            Description = S.Request!.Description,
            State = S.State,
            Priority = S.Request.Priority,
            CreatedAt = S.CreatedAt,
            CompletedAt = S.CompletedAt,
            Subtasks = S.Subtasks.Select(Shown).ToArray(),
            Version = S.Version,
            CancelRequested = S.CancelRequested,
            NotifyUrl = S.Request.NotifyUrl is { } notify ? WebhookAddress.Redacted(new Uri(notify)) : null,
        };
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} submitted to {Domains} with priority {Priority}")]
    private partial void LogSubmitted(string taskId, string domains, TaskPriority priority);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} finished: {State}")]
    private partial void LogFinished(string taskId, TaskState state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} was read without the word of {SubtaskIds}, silent for {Seconds} s; it goes on with what it stored and asks them again")]
    private partial void LogReadWithoutWord(string taskId, double seconds, string subtaskIds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} could not take the word of its part {SubtaskId} since it was read")]
    private partial void LogSubtaskUnheard(Exception exception, string taskId, string subtaskId);
}
