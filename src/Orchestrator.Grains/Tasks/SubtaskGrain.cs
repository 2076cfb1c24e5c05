using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core;
using Orleans.Storage;
using Orchestrator.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using Orchestrator.Grains.Persistence;
using Orchestrator.Grains.Security;

namespace Orchestrator.Grains.Tasks;

[GenerateSerializer, Alias("orchestrator.subtask-grain-state")]
public sealed class SubtaskGrainState
{
    [Id(0)] public SubtaskSpec? Spec { get; set; }
    [Id(1)] public SubtaskState State { get; set; }
    /// <summary>The number of the current (or last) attempt.</summary>
    [Id(2)] public int Attempt { get; set; }
    /// <summary>The attempt that began the current run (1, or the first attempt after a user's retry).</summary>
    [Id(3)] public int RunFirstAttempt { get; set; }
    [Id(4)] public string? Error { get; set; }
    [Id(5)] public string? OutputJson { get; set; }
    [Id(6)] public string? AgentId { get; set; }
    [Id(7)] public DateTimeOffset? StartedAt { get; set; }
    [Id(8)] public DateTimeOffset? CompletedAt { get; set; }
    [Id(9)] public long Revision { get; set; }
    /// <summary>The start of <see cref="AgentId"/>'s process that runs the attempt (null when its worker names none).</summary>
    [Id(10)] public string? Incarnation { get; set; }
    /// <summary>Tokens and cost of every attempt that reported them (spent is spent, so a retry adds to it).</summary>
    [Id(20)] public TokenUsage? Usage { get; set; }
}

/// <summary>The diff of the subtask's last attempt that reported one; a state of its own, so that no view or write of the subtask carries it.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-diff-state")]
public sealed class SubtaskDiffState
{
    [Id(0)] public DomainDiff? Diff { get; set; }
}

/// <summary>
/// One domain's part of a task, from queued to final: dispatch through the transport, results from workers,
/// the retry policy for failures, timeouts and lost agents, cancel and user retry. It reports every change to its parent.
/// </summary>
public sealed partial class SubtaskGrain(
    [FromKeyedServices(StorageNames.Orchestrator)] IGrainStorage storage,
    ITaskTransport transport,
    IClusterKey clusterKey,
    IOptions<OrchestratorOptions> options,
    TimeProvider time,
    ILogger<SubtaskGrain> logger) : StateReadOnFirstCallGrain<SubtaskGrainState>(SubtaskGrain.StateName, storage), ISubtaskGrain
{
    public const string StateName = "subtask";

    public const string DiffStateName = "diff";

    protected override string CreatingMethod => nameof(Start);

    protected override string CreatingNewMethod => nameof(StartNew);

    protected override bool IsFinished => S.State.IsFinal();

    // Kept: Orleans makes a new string of the key on each call.
    private string SubtaskId => field ??= this.GetPrimaryKeyString();

    private SubtaskGrainState S => StoredState.State;

    private SubtaskSpec Spec => S.Spec ?? throw new UnknownTaskException(SubtaskId);

    // Kept: resolving a grain reference costs a reflection lookup in Orleans 10, and these are used on every change.
    private IDomainSchedulerGrain? _scheduler;
    private ITaskGrain? _parent;

    /// <summary>
    /// Read when first asked for or replaced, not at activation: most subtasks never have a diff. One read shared by
    /// interleaved callers (<see cref="GetDiff"/> interleaves); a failed one is tried again by the next.
    /// </summary>
    private Task<StateStorageBridge<SubtaskDiffState>>? _diff;

    /// <summary>The first write of a new subtask (<see cref="StartNew"/>), which its dispatch waits for.</summary>
    private Task? _storingNew;

    private IDomainSchedulerGrain Scheduler => _scheduler ??= GrainFactory.Reference<IDomainSchedulerGrain>(Spec.Domain);

    private ITaskGrain Parent => _parent ??= GrainFactory.Reference<ITaskGrain>(Spec.ParentTaskId);

    public async Task<SubtaskView> Start(SubtaskSpec spec)
    {
        // No log line of its own: the task's says where it was routed, the dispatch when it left the queue.
        if (S.Spec is null && await CreateAsync(Initial(spec)))
        {
            OrchestratorMetrics.SubtaskSubmitted(spec.Domain);
        }

        var stored = View();
        if (S.State == SubtaskState.Pending)
        {
            await EnqueueAsync(time.GetUtcNow());
        }

        return stored;
    }

    public async Task<SubtaskView> StartNew(SubtaskSpec spec)
    {
        if (S.Spec is not null)
        {
            return await Start(spec); // this activation knew it already: a repeat
        }

        StoredState.State = Initial(spec);
        var stored = View();
        // No etag: refused, and this grain replaced, should a record exist after all. Its dispatch waits for it (see
        // Dispatch); if it fails, the parent's submit fails with it, and the client's repeat starts the part anew.
        await Task.WhenAll(_storingNew = Writer.WriteAsync(), EnqueueAsync(time.GetUtcNow()));
        OrchestratorMetrics.SubtaskSubmitted(spec.Domain);
        return stored;
    }

    private static SubtaskGrainState Initial(SubtaskSpec spec) =>
        new() { Spec = spec, State = SubtaskState.Pending, Attempt = 1, RunFirstAttempt = 1, Revision = 1 };

    public Task<SubtaskView> GetView() => Task.FromResult(View());

    public async Task<bool> Dispatch(int attempt)
    {
        if (S.Spec is null || S.State != SubtaskState.Pending || attempt != S.Attempt)
        {
            return false;
        }

        if (_storingNew is { IsCompletedSuccessfully: false } storing)
        {
            // A new subtask's state is stored beside its enqueue; its message goes out only once it is, so that no
            // agent runs work no record knows of. The scheduler's hop here overlaps that write.
            try
            {
                await storing;
            }
            catch (Exception)
            {
                return false; // not stored: the scheduler lets the entry go, and the failed submit's repeat queues it anew
            }
        }

        using (var activity = OrchestratorTelemetry.Start("orchestrator.dispatch", ActivityKind.Producer, Spec.TraceParent, SubtaskId))
        {
            activity?.SetTag("orchestrator.domain", Spec.Domain).SetTag("orchestrator.attempt", attempt);
            var lease = AttemptLease.Compute(await clusterKey.GetAsync(), SubtaskId, attempt);
            var now = time.GetUtcNow();
            await transport.PublishAsync(
                TaskMessage.From(Spec, attempt, now, lease, activity?.Id), WireFormat.LogLine(now, $"Dispatched to the {Spec.Domain} domain (attempt {attempt})"));
        }

        // Not written where our workers serve: a dispatch recorded or not is handled alike — the scheduler's slot holds
        // the attempt, a start notice or a proven result is taken from a pending subtask (also one missed, at a reconcile
        // or the deadline), and a deadline passing on one still pending times it out. Kept in memory, it goes with the next write.
        // The reference's runners send no start notice and no proof: there the dispatch is the only record a result
        // can be matched with after a restart, so it is written.
        S.State = SubtaskState.Dispatched;
        if (options.Value.ReferenceCompatibleDomains.Contains(Spec.Domain))
        {
            await ChangedAsync(null);
        }

        return true;
    }

    public async Task OnStarted(string agentId, DateTimeOffset startedAt, string? leaseProof, string? incarnation)
    {
        // The lease first: a forged notice is said in the log whatever the state it arrives in.
        if (S.Spec is null
            || !await HoldsLeaseAsync(leaseProof, lease => LeaseProof.ForStart(lease, SubtaskId, agentId, incarnation), "start notice", agentId)
            || S.State is not (SubtaskState.Dispatched or SubtaskState.Pending))
        {
            return;
        }

        S.State = SubtaskState.InProgress;
        S.AgentId = agentId;
        S.Incarnation = incarnation;
        S.StartedAt = startedAt;
        await ChangedAsync(null);
    }

    public async Task OnResult(AgentResult result)
    {
        if (S.Spec is null)
        {
            LogUnknownResult(SubtaskId);
            DeactivateOnIdle();
            return;
        }

        if (S.State.IsFinal())
        {
            // A duplicate or late result changes nothing; it may be a retry after the slot's release or the parent's
            // update failed, so both are said again (each is idempotent).
            await Scheduler.Release(SubtaskId);
            await Parent.OnSubtaskChanged(View());
            return;
        }

        // Pending with a proof: the attempt's dispatch is not recorded (see Dispatch), and the proof says it is this attempt's.
        if (S.State is not (SubtaskState.Dispatched or SubtaskState.InProgress) && !(S.State == SubtaskState.Pending && result.LeaseProof is not null))
        {
            LogIgnored("result", SubtaskId, result.AgentId ?? "(no agent id)", $"no attempt is in flight (the subtask is {S.State.ToWire()})");
            return;
        }

        if (!await HoldsLeaseAsync(result.LeaseProof, lease => LeaseProof.ForResult(lease, SubtaskId, result.Succeeded, result.OutputJson, result.Error), "result", result.AgentId))
        {
            return;
        }

        using var activity = OrchestratorTelemetry.Start("orchestrator.result", ActivityKind.Consumer, Spec.TraceParent, SubtaskId);
        activity?.SetTag("orchestrator.succeeded", result.Succeeded);
        await KeepDiffAsync(result); // before the change is told: whoever sees the part final can read its diff
        S.AgentId = result.AgentId ?? S.AgentId;
        S.StartedAt ??= result.StartedAt;
        var output = UsageJson.ParseOutput(result.OutputJson);
        if (UsageJson.Read(output) is { } usage)
        {
            S.Usage = S.Usage?.Plus(usage) ?? usage;
            OrchestratorMetrics.UsageReported(Spec.Domain, usage);
        }

        if (result.Succeeded)
        {
            S.State = SubtaskState.Completed;
            S.OutputJson = result.OutputJson;
            S.Error = null;
            S.CompletedAt = result.CompletedAt ?? time.GetUtcNow();
            await ChangedAsync("Completed");
            return;
        }

        S.OutputJson = result.OutputJson;
        await FailOrRetryAsync(string.IsNullOrWhiteSpace(result.Error) ? "The worker reported a failure without a reason" : Capped(result.Error),
            OutputFlag(output, "timed_out") ? SubtaskState.TimedOut : SubtaskState.Failed,
            retryable: !OutputFlag(output, "budget_exceeded"));
    }

    /// <summary>
    /// What our worker says in the output about how the agent was stopped: <c>timed_out</c> (killed at the task's
    /// timeout) or <c>budget_exceeded</c> (killed over its budget, which another attempt would spend again).
    /// </summary>
    private static bool OutputFlag(System.Text.Json.Nodes.JsonObject? output, string flagName) =>
        output?[flagName] is System.Text.Json.Nodes.JsonValue flag && flag.TryGetValue<bool>(out var set) && set;

    public async Task<DomainDiff?> GetDiff() => (await DiffAsync()).State.Diff;

    private Task<StateStorageBridge<SubtaskDiffState>> DiffAsync() =>
        _diff is { IsFaulted: false, IsCanceled: false } read ? read : _diff = ReadDiffAsync();

    private async Task<StateStorageBridge<SubtaskDiffState>> ReadDiffAsync()
    {
        var diff = new StateStorageBridge<SubtaskDiffState>(DiffStateName, GrainContext, Storage);
        await diff.ReadStateAsync();
        return diff;
    }

    /// <summary>
    /// The attempt's diff, when it carries its own proof under the attempt's lease (a result alone proves nothing of a
    /// diff sent beside it); text from an agent, so read within the limits whatever the worker claims.
    /// </summary>
    private async Task KeepDiffAsync(AgentResult result)
    {
        if (result.DiffJson is not { } json)
        {
            return;
        }

        if (result.DiffProof is not { } diffProof || !await ProvesCurrentAttemptAsync(diffProof, lease => LeaseProof.ForDiff(lease, SubtaskId, json)))
        {
            await IgnoreAsync("diff", result.AgentId, $"its diff proof is not that of attempt {S.Attempt}");
            return;
        }

        DomainDiff parsed;
        try
        {
            parsed = DiffRecord.Parse(json);
        }
        catch (WireFormatException e)
        {
            await IgnoreAsync("diff", result.AgentId, e.Message);
            return;
        }

        var diff = await DiffAsync();
        diff.State = new SubtaskDiffState { Diff = parsed with { Domain = Spec.Domain, Attempt = S.Attempt } };
        try
        {
            await diff.WriteStateAsync();
        }
        catch
        {
            _diff = null; // read again when next needed: this copy holds what was not stored
            throw;
        }
    }

    /// <summary>
    /// Whether a report comes from the holder of the attempt in flight: it carries a proof of what it reports under that
    /// attempt's lease, or none and the domain is one the reference's runners may serve. Anything else is logged with its key and ignored.
    /// </summary>
    private async ValueTask<bool> HoldsLeaseAsync(string? proof, Func<string, string> expectedProof, string what, string? agentId)
    {
        if (proof is null)
        {
            if (options.Value.ReferenceCompatibleDomains.Contains(Spec.Domain))
            {
                return true;
            }

            await IgnoreAsync(what, agentId, "it carries no lease proof and the domain is not reference-compatible");
            return false;
        }

        if (await ProvesCurrentAttemptAsync(proof, expectedProof))
        {
            return true;
        }

        await IgnoreAsync(what, agentId, $"its lease proof is not that of attempt {S.Attempt} for what it reports");
        return false;
    }

    /// <summary>Whether <paramref name="proof"/> is what the holder of the current attempt's lease would send.</summary>
    private async ValueTask<bool> ProvesCurrentAttemptAsync(string proof, Func<string, string> expectedProof) =>
        LeaseProof.Matches(expectedProof(AttemptLease.Compute(await clusterKey.GetAsync(), SubtaskId, S.Attempt)), proof);

    /// <summary>Said in the operator's log and in the task's own, so that a forged or stale report is visible where people look.</summary>
    private Task IgnoreAsync(string what, string? agentId, string reason)
    {
        LogIgnored(what, SubtaskId, agentId ?? "(no agent id)", reason);
        return AddLogAsync($"Ignored a {what} from {agentId ?? "an unnamed agent"}: {reason}");
    }

    private string Capped(string error) =>
        error.Length <= options.Value.MaxErrorChars ? error : error[..options.Value.MaxErrorChars] + $" … [error cut at {options.Value.MaxErrorChars} characters]";

    public async Task OnDeadlinePassed(int attempt)
    {
        if (S.Spec is not null && attempt < S.Attempt && S.State == SubtaskState.Pending)
        {
            await QueueStoredAttemptAsync();
            return;
        }

        if (S.Spec is null || attempt != S.Attempt || !MayBeInFlight)
        {
            return;
        }

        await TakeMissedResultAsync(); // it may have finished in time, its notification lost
        if (attempt != S.Attempt || !MayBeInFlight)
        {
            return;
        }

        // Pending too (a dispatch, and a start its result came before, are not written, so after a restart an attempt
        // that ran reads as pending): counted like any timeout, so that no crash loop retries for ever.
        await transport.WithdrawAsync(Spec.Domain, SubtaskId);
        await FailOrRetryAsync($"Timed out after {Spec.TimeoutSeconds} s (attempt {attempt})", SubtaskState.TimedOut);
    }

    public async Task OnDispatchFailed(int attempt)
    {
        if (S.Spec is not null && attempt == S.Attempt && S.State == SubtaskState.Pending)
        {
            await QueueUnrecordedAttemptAgainAsync();
        }
    }

    /// <summary>
    /// The dispatch failed, so the attempt may have been published without the scheduler knowing it went: take any
    /// message back and queue a fresh attempt, which costs no retry. A new attempt number, so a worker already running
    /// the old one has its reports ignored.
    /// </summary>
    private async Task QueueUnrecordedAttemptAgainAsync()
    {
        await transport.WithdrawAsync(Spec.Domain, SubtaskId);
        S.Attempt++;
        S.RunFirstAttempt++;
        await ChangedAsync($"Attempt {S.Attempt - 1} may have been published although its dispatch failed; queued again as attempt {S.Attempt}");
        await EnqueueAsync(time.GetUtcNow());
    }

    /// <summary>
    /// An older attempt's deadline while a newer one is stored as pending: the newer one's enqueue failed or never came
    /// (the silo stopped in between), or it was dispatched before a scheduler that lost it. A result it left is taken;
    /// otherwise any message of it is taken back and it is queued (a repeat, or one already queued, changes nothing).
    /// </summary>
    private async Task QueueStoredAttemptAsync()
    {
        var stored = S.Attempt;
        await TakeMissedResultAsync();
        if (S.Attempt == stored && S.State == SubtaskState.Pending)
        {
            await transport.WithdrawAsync(Spec.Domain, SubtaskId);
            await EnqueueAsync(time.GetUtcNow());
        }
    }

    public async Task OnDomainUnavailable(int attempt, string reason)
    {
        if (attempt != S.Attempt || S.State is not (SubtaskState.Pending or SubtaskState.Dispatched))
        {
            return;
        }

        // Queued for workers that do not exist; also when pending, since a dispatch is not always written (see Dispatch):
        // an attempt that ran may have left its result.
        await TakeMissedResultAsync();
        if (attempt != S.Attempt || S.State is not (SubtaskState.Pending or SubtaskState.Dispatched))
        {
            return;
        }

        await transport.WithdrawAsync(Spec.Domain, SubtaskId);
        await FailOrRetryAsync(Capped(reason), SubtaskState.Failed);
    }

    public async Task OnAgentLost(string agentId)
    {
        if (HeldBy(agentId))
        {
            await LoseAttemptAsync($"Agent {agentId} stopped heart-beating while it ran attempt {S.Attempt}");
        }
    }

    public async Task OnAgentRestarted(string agentId, string incarnation)
    {
        // The incarnation this subtask recorded is the record, not whoever reports the new one: a report repeated, or
        // one from before the attempt started, finds them equal and changes nothing.
        if (HeldBy(agentId) && S.Incarnation is not null && S.Incarnation != incarnation)
        {
            LogAgentRestarted(agentId, S.Incarnation, incarnation, SubtaskId, S.Attempt);
            await LoseAttemptAsync($"Agent {agentId} restarted (new incarnation) while it ran attempt {S.Attempt}");
        }
    }

    private bool HeldBy(string agentId) => S.State == SubtaskState.InProgress && S.AgentId == agentId;

    /// <summary>
    /// Its agent is gone: a result it left is taken (it may have finished, its notification or this grain's write of
    /// it lost); otherwise the message comes out of the domain's lists, and the retry policy decides.
    /// </summary>
    private async Task LoseAttemptAsync(string reason)
    {
        var attempt = S.Attempt;
        await TakeMissedResultAsync();
        if (attempt != S.Attempt || S.State != SubtaskState.InProgress)
        {
            return;
        }

        await transport.WithdrawAsync(Spec.Domain, SubtaskId);
        await FailOrRetryAsync(reason, SubtaskState.Failed);
    }

    public async Task<SubtaskView> Cancel()
    {
        if (S.Spec is null || S.State.IsFinal())
        {
            return View();
        }

        await transport.WithdrawAsync(Spec.Domain, SubtaskId);
        S.State = SubtaskState.Cancelled;
        S.Error = "Cancelled by the user";
        S.CompletedAt = time.GetUtcNow();
        await ChangedAsync("Cancelled", notifyParent: false);
        return View();
    }

    public async Task<SubtaskView> Retry()
    {
        if (S.Spec is null || !S.State.IsFinal() || S.State == SubtaskState.Completed)
        {
            return View();
        }

        S.Attempt++;
        S.RunFirstAttempt = S.Attempt;
        S.State = SubtaskState.Pending;
        S.Error = null;
        S.OutputJson = null;
        S.AgentId = null;
        S.Incarnation = null;
        S.StartedAt = null;
        S.CompletedAt = null;
        await ChangedAsync($"Retry requested: attempt {S.Attempt} queued", notifyParent: false);
        var stored = View();
        await EnqueueAsync(time.GetUtcNow());
        return stored;
    }

    public async Task Reconcile()
    {
        if (S.Spec is not null && MayBeInFlight)
        {
            await TakeMissedResultAsync();
        }
    }

    /// <summary>
    /// Whether the scheduler's slot may hold an attempt of this part: dispatched or started as recorded, or pending,
    /// since neither a dispatch (where our workers serve) nor a start (when the result came first) is always written —
    /// after a restart a part whose attempt ran reads as pending.
    /// </summary>
    private bool MayBeInFlight => S.State is SubtaskState.Pending or SubtaskState.Dispatched or SubtaskState.InProgress;

    /// <summary>
    /// A result stored while its notification was lost (a silo restarted, a connection dropped) is taken as if it had
    /// arrived. One proved for another attempt is an earlier attempt's, left in the store: passed over without a word
    /// (a forged one arriving is said in the log where it arrives, see <see cref="OnResult"/>).
    /// </summary>
    private async Task TakeMissedResultAsync()
    {
        if (await transport.GetResultAsync(SubtaskId) is not { } missed)
        {
            return;
        }

        if (missed.LeaseProof is { } proof
            && !await ProvesCurrentAttemptAsync(proof, lease => LeaseProof.ForResult(lease, SubtaskId, missed.Succeeded, missed.OutputJson, missed.Error)))
        {
            return;
        }

        LogReconciled(SubtaskId);
        await OnResult(missed);
    }

    public Task OnLogsAppended() =>
        S.Spec is null ? Task.CompletedTask : Parent.OnActivity();

    public async Task<bool> Purge()
    {
        // Only a final part goes. Its parent asks only when it is final itself, but its copy may be older than this
        // part (a retry whose write failed): then the parent stays too.
        DeactivateOnIdle();
        if (S.Spec is null)
        {
            return true;
        }

        if (!S.State.IsFinal())
        {
            return false;
        }

        if (await DiffAsync() is { RecordExists: true } diff)
        {
            await diff.ClearStateAsync();
        }

        await StoredState.ClearStateAsync();
        return true;
    }

    private async Task FailOrRetryAsync(string reason, SubtaskState finalState, bool retryable = true)
    {
        var retry = options.Value.Retry;
        var attemptsUsed = S.Attempt - S.RunFirstAttempt + 1;
        S.AgentId = null;
        S.Incarnation = null;
        S.Error = reason;
        if (retryable && attemptsUsed < retry.MaxAttempts)
        {
            var backoff = retry.BackoffBefore(attemptsUsed + 1);
            S.Attempt++;
            S.State = SubtaskState.Pending;
            OrchestratorMetrics.Retried(Spec.Domain);
            await ChangedAsync($"{reason}; attempt {S.Attempt} of {retry.MaxAttempts} in {backoff.TotalSeconds:0.#} s");
            await EnqueueAsync(time.GetUtcNow() + backoff);
            return;
        }

        S.State = finalState;
        S.CompletedAt = time.GetUtcNow();
        await ChangedAsync(retryable ? $"{reason}; no attempts left ({attemptsUsed} made)" : $"{reason}; not retried");
    }

    /// <summary>
    /// Queues the current attempt. The scheduler may hand it out before its queue is saved, and its <see cref="Dispatch"/>
    /// comes in while this grain still waits for the save: let in (call-chain reentrancy), the message goes out beside
    /// the save instead of a round trip after it. Whatever else the scheduler calls back meanwhile comes in too (a
    /// failed dispatch, no domain to be had), so every caller stores its change before and does nothing after but
    /// return — a view taken before, since what came in may not be stored (a dispatch is kept in memory).
    /// </summary>
    private async Task EnqueueAsync(DateTimeOffset notBefore)
    {
        using var dispatchMayComeIn = RequestContext.AllowCallChainReentrancy();
        await Scheduler.Enqueue(new QueueEntry(SubtaskId, Spec.Priority, Spec.TimeoutSeconds, S.Attempt, notBefore));
    }

    private async Task ChangedAsync(string? logText, bool notifyParent = true)
    {
        S.Revision++;
        if (S.State.IsFinal())
        {
            OrchestratorMetrics.SubtaskFinished(Spec.Domain, S.State);
        }

        await Writer.WriteAsync();
        // Once stored, and side by side (each one a round trip, none waiting for another): the slot's release — only
        // once stored, since until then the slot's deadline brings the result again, and never held up by a failing
        // log or parent — the log line, and the parent.
        await Task.WhenAll(
            S.State.IsFinal() ? Scheduler.Release(SubtaskId) : Task.CompletedTask,
            logText is not null ? AddLogAsync(logText) : Task.CompletedTask,
            notifyParent ? Parent.OnSubtaskChanged(View()) : Task.CompletedTask);
    }

    private Task AddLogAsync(string text) =>
        transport.AppendLogsAsync(SubtaskId, [WireFormat.LogLine(time.GetUtcNow(), text)]);

    private SubtaskView View() => new()
    {
        TaskId = SubtaskId,
        Domain = Spec.Domain,
        State = S.State,
        Error = S.Error,
        OutputJson = S.OutputJson,
        Attempts = S.Attempt,
        AgentId = S.AgentId,
        Requirements = Spec.Requirements,
        Workers = Spec.Workers,
        StartedAt = S.StartedAt,
        CompletedAt = S.CompletedAt,
        Revision = S.Revision,
        Usage = S.Usage,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "A result arrived for {TaskId}, which is no task of ours; ignored")]
    private partial void LogUnknownResult(string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a {What} for results:{TaskId} from {AgentId}: {Reason}")]
    private partial void LogIgnored(string what, string taskId, string agentId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Agent {AgentId} restarted (incarnation {Old} -> {New}) while it ran {TaskId} attempt {Attempt}; that attempt is lost")]
    private partial void LogAgentRestarted(string agentId, string old, string @new, string taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Found the missed result of {TaskId} in the results store")]
    private partial void LogReconciled(string taskId);
}
