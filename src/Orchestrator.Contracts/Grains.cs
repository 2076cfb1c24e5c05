using Orleans.Concurrency;

namespace Orchestrator.Contracts;

/// <summary>A submitted task: the parent of one subtask per domain. Keyed by task id.</summary>
[Alias("orchestrator.ITaskGrain")]
public interface ITaskGrain : IGrainWithStringKey
{
    /// <summary>Plans and starts the task. Idempotent: submitting the same id again returns the existing task.</summary>
    [ClientCallable, Alias("Submit")] Task<TaskView> Submit(TaskSubmission request);

    /// <summary>The current view; throws <see cref="UnknownTaskException"/> if no task has this id.</summary>
    [ClientCallable, Alias("GetView"), ReadOnly] Task<TaskView> GetView();

    /// <summary>Returns as soon as the task's version exceeds <paramref name="knownVersion"/>, or after <paramref name="maxWait"/>.</summary>
    [ClientCallable, Alias("WaitForChange"), AlwaysInterleave] Task<TaskView> WaitForChange(long knownVersion, TimeSpan maxWait);

    /// <summary>Returns as soon as the task is final (as stored), or after <paramref name="maxWait"/>: one call per task for a caller that waits for its result.</summary>
    [ClientCallable, Alias("WaitForResult"), AlwaysInterleave] Task<TaskView> WaitForResult(TimeSpan maxWait);

    /// <summary>Log lines of the task and its subtasks after <paramref name="cursor"/>.</summary>
    [ClientCallable, Alias("GetLogs"), AlwaysInterleave] Task<LogPage> GetLogs(LogCursor cursor);

    [ClientCallable, Alias("Cancel")] Task<TaskView> Cancel();

    /// <summary>Re-runs the failed, timed-out and cancelled parts of a finished task.</summary>
    [ClientCallable, Alias("Retry")] Task<TaskView> Retry();

    /// <summary>
    /// The change each domain's agent made (its last attempt that reported one), or only <paramref name="domain"/>'s.
    /// Kept out of <see cref="GetView"/>: a diff may be large, a view is sent on every change.
    /// </summary>
    [ClientCallable, Alias("GetDiff"), ReadOnly, AlwaysInterleave] Task<IReadOnlyList<DomainDiff>> GetDiff(string? domain);

    [Alias("OnSubtaskChanged")] Task OnSubtaskChanged(SubtaskView subtask);

    /// <summary>New log lines exist for this task or one of its subtasks.</summary>
    [Alias("OnActivity"), OneWay] Task OnActivity();

    /// <summary>
    /// Removes the task — its grain state, its subtasks' and every log and result key — if it finished at or before
    /// <paramref name="finishedBy"/>; an unfinished or younger task is left alone. Only the task index calls it (prune).
    /// </summary>
    [Alias("Purge")] Task<PurgeOutcome> Purge(DateTimeOffset finishedBy);
}

/// <summary>One domain's part of a task. Keyed by the subtask id, which is the wire message's task_id.</summary>
[Alias("orchestrator.ISubtaskGrain")]
public interface ISubtaskGrain : IGrainWithStringKey
{
    /// <summary>Stores the spec and queues it with its domain's scheduler. Idempotent.</summary>
    [Alias("Start")] Task<SubtaskView> Start(SubtaskSpec spec);

    /// <summary>
    /// <see cref="Start"/> for a subtask whose id its parent has just made, so that no record of it can exist: its state
    /// is stored side by side with its enqueue instead of before it (its dispatch still waits for that write). Only for a
    /// fresh id; a repeat goes through <see cref="Start"/>.
    /// </summary>
    [Alias("StartNew")] Task<SubtaskView> StartNew(SubtaskSpec spec);

    /// <summary>Interleaves: the parent asks for it while this subtask may be waiting on the parent (on the parent's activation).</summary>
    [Alias("GetView"), ReadOnly, AlwaysInterleave] Task<SubtaskView> GetView();

    /// <summary>The scheduler's turn for this subtask: publish it to the domain's workers. Returns false if it should not run any more.</summary>
    [Alias("Dispatch")] Task<bool> Dispatch(int attempt);

    /// <param name="incarnation">The start of the agent's process that took the attempt, or null from a worker that names none.</param>
    [Alias("OnStarted")] Task OnStarted(string agentId, DateTimeOffset startedAt, string? leaseProof, string? incarnation);

    [Alias("OnResult")] Task OnResult(AgentResult result);

    /// <summary>The change of the last attempt that reported one, null when none did.</summary>
    [Alias("GetDiff"), ReadOnly, AlwaysInterleave] Task<DomainDiff?> GetDiff();

    /// <summary>No domain could be found or spawned for this queued attempt: fail it (or retry it) with the reason.</summary>
    [Alias("OnDomainUnavailable")] Task OnDomainUnavailable(int attempt, string reason);

    /// <summary>The scheduler saw this attempt's deadline pass.</summary>
    [Alias("OnDeadlinePassed")] Task OnDeadlinePassed(int attempt);

    /// <summary>The scheduler's dispatch call failed: the attempt may or may not be out.</summary>
    [Alias("OnDispatchFailed")] Task OnDispatchFailed(int attempt);

    /// <summary>An agent stopped heart-beating; if it held this subtask, run it again.</summary>
    [Alias("OnAgentLost")] Task OnAgentLost(string agentId);

    /// <summary>
    /// The agent is registered under <paramref name="incarnation"/>; if it held this subtask under another one, it
    /// restarted since and the attempt is lost: run it again. A no-op when they match, or when its start named none.
    /// </summary>
    [Alias("OnAgentRestarted")] Task OnAgentRestarted(string agentId, string incarnation);

    [Alias("Cancel")] Task<SubtaskView> Cancel();

    [Alias("Retry")] Task<SubtaskView> Retry();

    /// <summary>Called after a restart for work the scheduler had in flight: picks up results whose notification was missed.</summary>
    [Alias("Reconcile")] Task Reconcile();

    [Alias("OnLogsAppended"), OneWay] Task OnLogsAppended();

    /// <summary>Deletes this subtask's stored state if it is final (its parent is being purged).</summary>
    [Alias("Purge")] Task<bool> Purge();
}

/// <summary>A subtask waiting for, or holding, a slot of its domain.</summary>
[GenerateSerializer, Immutable, Alias("orchestrator.queue-entry")]
public sealed record QueueEntry(
    [property: Id(0)] string SubtaskId,
    [property: Id(1)] TaskPriority Priority,
    [property: Id(2)] int TimeoutSeconds,
    [property: Id(3)] int Attempt,
    [property: Id(4)] DateTimeOffset NotBefore);

/// <summary>
/// Orders one domain type's work: a priority queue held by the orchestrator, fed to the workers only as far
/// ahead as they can take, with the deadlines of what is in flight. Keyed by domain type.
/// </summary>
[Alias("orchestrator.IDomainSchedulerGrain")]
public interface IDomainSchedulerGrain : IGrainWithStringKey
{
    [Alias("Enqueue")] Task Enqueue(QueueEntry entry);

    /// <summary>The subtask no longer needs its queue place or slot (finished, cancelled, or about to be queued again).</summary>
    [Alias("Release")] Task Release(string subtaskId);

    [Alias("SetCapacity")] Task SetCapacity(int capacity);

    [Alias("AgentLost")] Task AgentLost(string agentId);

    /// <summary>An agent was seen registered under a new incarnation: the in-flight work its earlier one held runs again.</summary>
    [Alias("AgentRestarted")] Task AgentRestarted(string agentId, string incarnation);

    /// <summary>Has every in-flight subtask look up its result in the results store (for results whose notification was missed).</summary>
    [Alias("ReconcileInFlight")] Task ReconcileInFlight();

    /// <summary>No domain could be started (the pool's spawn failed, or its instances kept dying): the waiting work fails with <paramref name="reason"/>.</summary>
    [Alias("DomainUnavailable")] Task DomainUnavailable(string reason);

    [ClientCallable, Alias("GetView"), ReadOnly] Task<SchedulerView> GetView();

    /// <summary>Holds the queue (nothing more is dispatched; work in flight runs on) or lets it go again. Kept across restarts.</summary>
    [ClientCallable, Alias("SetPaused")] Task<SchedulerView> SetPaused(bool paused);
}

/// <summary>
/// The domain instances of one domain type: the seed's get-healthy-or-spawn, health checks and cleanup. Keyed by domain
/// type. Runtime work (a spawn may take 30 s and more, a stop waits for running tasks) never runs inside a call: the
/// Start… methods return at once with a <see cref="DomainOperation"/> that callers follow with <see cref="WaitForOperation"/>.
/// </summary>
[Alias("orchestrator.IDomainPoolGrain")]
public interface IDomainPoolGrain : IGrainWithStringKey
{
    /// <summary>Makes sure a healthy domain exists or is being spawned; returns at once. A spawn that fails is reported to the scheduler.</summary>
    [Alias("EnsureHealthy")] Task EnsureHealthy();

    [ClientCallable, Alias("StartSpawn")] Task<DomainOperation> StartSpawn();

    [ClientCallable, Alias("List")] Task<IReadOnlyList<DomainView>> List();

    /// <summary>Null when no such instance exists.</summary>
    [ClientCallable, Alias("StartStop")] Task<DomainOperation?> StartStop(string domainId);

    /// <summary>Removes the stopped instances; with <paramref name="all"/>, stops and removes every one.</summary>
    [ClientCallable, Alias("StartCleanup")] Task<DomainOperation> StartCleanup(bool all);

    /// <summary>
    /// The operation once it has finished, or as it stands after <paramref name="maxWait"/> (at most 10 s, well within
    /// the response timeout); null when this pool does not know it (e.g. its silo restarted meanwhile).
    /// </summary>
    [ClientCallable, Alias("WaitForOperation"), AlwaysInterleave] Task<DomainOperation?> WaitForOperation(string operationId, TimeSpan maxWait);

    /// <summary>The pool's own background work reporting back, so that its state changes only in its own turns.</summary>
    [Alias("OnOperationFinished")] Task OnOperationFinished(DomainOperation finished);

    /// <summary>Checks every instance now; starts replacing the dead ones.</summary>
    [Alias("CheckHealth")] Task CheckHealth();
}

/// <summary>The agent registry of the network. A single grain (key 0); the agents' own records live in the registry store.</summary>
[Alias("orchestrator.IAgentRegistryGrain")]
public interface IAgentRegistryGrain : IGrainWithIntegerKey
{
    [Alias("Register")] Task Register(AgentInfo agent);

    [Alias("Heartbeat")] Task Heartbeat(string agentId);

    [Alias("Deregister")] Task Deregister(string agentId);

    [ClientCallable, Alias("List")] Task<IReadOnlyList<AgentInfo>> List();

    /// <summary>Registers this orchestrator as the main agent and starts its heartbeat.</summary>
    [Alias("Start")] Task Start();
}

/// <summary>Recently submitted tasks, newest first. A single grain (key 0) that writes in batches.</summary>
[Alias("orchestrator.ITaskIndexGrain")]
public interface ITaskIndexGrain : IGrainWithIntegerKey
{
    /// <summary>Fire and forget: the index is written at most once a second, off the submit path.</summary>
    [Alias("Add"), OneWay] Task Add(TaskSummary summary);

    /// <summary>The task became final at <paramref name="finishedAt"/>, or (null) runs again after a retry.</summary>
    [Alias("Finished"), OneWay] Task Finished(string taskId, DateTimeOffset? finishedAt);

    [ClientCallable, Alias("Recent"), ReadOnly] Task<IReadOnlyList<TaskSummary>> Recent(int limit);

    /// <summary>
    /// Removes finished tasks that finished more than <paramref name="olderThan"/> ago (null: the configured retention),
    /// at most <see cref="PruneReport.MaxPerCall"/> per call; never an unfinished task. Call again while
    /// <see cref="PruneReport.Remaining"/> is above zero.
    /// </summary>
    [ClientCallable, Alias("Prune")] Task<PruneReport> Prune(TimeSpan? olderThan);
}

/// <summary>What <see cref="ITaskGrain.Purge"/> did: removed the task, or left it (with its finish time, null while it runs).</summary>
[GenerateSerializer, Alias("orchestrator.purge-outcome")]
public sealed record PurgeOutcome(
    [property: Id(0)] bool Removed,
    [property: Id(1)] bool Exists,
    [property: Id(2)] TaskState State,
    [property: Id(3)] DateTimeOffset? CompletedAt);

/// <summary>A task that prune removed.</summary>
[GenerateSerializer, Alias("orchestrator.pruned-task")]
public sealed record PrunedTask(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Description,
    [property: Id(2)] TaskState State,
    [property: Id(3)] DateTimeOffset? CompletedAt);

/// <summary>One prune call's work: the tasks removed, how old a finished task had to be, and how many more are due.</summary>
[GenerateSerializer, Alias("orchestrator.prune-report")]
public sealed record PruneReport(
    [property: Id(0)] IReadOnlyList<PrunedTask> Removed,
    [property: Id(1)] TimeSpan OlderThan,
    [property: Id(2)] int Remaining)
{
    /// <summary>The most tasks one prune call removes, so that no caller can hold the index for long.</summary>
    public const int MaxPerCall = 100;
}

/// <summary>Asked about a task id that no task has.</summary>
[GenerateSerializer, Alias("orchestrator.unknown-task")]
public sealed class UnknownTaskException(string taskId)
    : Exception($"No task with id '{taskId}': it never existed, or it finished longer ago than the retention period"
        + " (Orchestrator:Retention:FinishedTasks) or was pruned, and was removed. List tasks with `orchestrator tasks`.")
{
    [Id(0)] public string TaskId { get; } = taskId;
}

/// <summary>
/// The grain that got the call could not store a change and is being replaced, so that nothing it holds only in memory
/// is taken for stored; the call is to be repeated, and then meets the stored state.
/// </summary>
[GenerateSerializer, Alias("orchestrator.stale-activation")]
public sealed class StaleActivationException(string cause)
    : Exception($"The orchestrator could not store a change ({cause}) and is reloading that task's state; try again in a moment.");

/// <summary>A request that was refused because it was invalid; the message says what and how to fix it.</summary>
[GenerateSerializer, Alias("orchestrator.invalid-request")]
public sealed class InvalidTaskRequestException(string message) : Exception(message);

/// <summary>An operation that does not fit the task's current state (e.g. retrying a running task).</summary>
[GenerateSerializer, Alias("orchestrator.conflict")]
public sealed class TaskConflictException(string message) : Exception(message);

/// <summary>No domain could be started; the message carries the runtime's error and what to do.</summary>
[GenerateSerializer, Alias("orchestrator.domain-spawn-failed")]
public sealed class DomainSpawnException(string message) : Exception(message);

/// <summary>A listing, stop or cleanup of domains failed or did not finish in time; the message says which and why.</summary>
[GenerateSerializer, Alias("orchestrator.domain-operation-failed")]
public sealed class DomainOperationException(string message) : Exception(message);

/// <summary>A call the control plane refused: an internal method called from outside the cluster, or a malformed grain key.</summary>
[GenerateSerializer, Alias("orchestrator.call-refused")]
public sealed class CallRefusedException(string message) : Exception(message);
