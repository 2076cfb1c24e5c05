using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Core.Transport;

/// <summary>
/// The orchestrator's side of the wire between grains and domain workers. The Redis implementation is the
/// reference protocol (<c>tasks:pending:{domain}</c>, <c>results:{task_id}</c>, ...); the in-memory one serves the embedded default.
/// Results and starts come back through <see cref="ITaskEventSink"/>.
/// </summary>
public interface ITaskTransport
{
    /// <summary>
    /// Queues a message for the domain's workers, records its result as pending and appends <paramref name="logLine"/>
    /// (already time-stamped) to the task's log, in one step: the line is there before any worker can log the task.
    /// </summary>
    Task PublishAsync(TaskMessage message, string logLine, CancellationToken cancellationToken = default);

    /// <summary>
    /// Takes a task back from the workers: removes it from the domain's pending and active lists and asks a worker
    /// that holds it to stop. Used for cancel and before running a task again.
    /// </summary>
    Task WithdrawAsync(string domain, string taskId, CancellationToken cancellationToken = default);

    /// <summary>The final result stored for a task, or null; finds results whose notification was missed.</summary>
    Task<AgentResult?> GetResultAsync(string taskId, CancellationToken cancellationToken = default);

    /// <summary>Appends lines (already time-stamped) to the task's log (the seed's add_log).</summary>
    Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken = default);

    /// <summary>The task's log lines from <paramref name="fromIndex"/> on.</summary>
    Task<IReadOnlyList<string>> ReadLogsAsync(string taskId, long fromIndex, CancellationToken cancellationToken = default);
}

/// <summary>Where a transport delivers what workers report. The silo routes these to the subtask grains.</summary>
public interface ITaskEventSink
{
    /// <param name="leaseProof">The worker's <see cref="Protocol.LeaseProof.ForStart"/>, or null from a worker that sends none.</param>
    /// <param name="incarnation">The start of the worker's process (<see cref="Contracts.AgentInfo.Incarnation"/>), or null from a worker that names none.</param>
    Task OnStartedAsync(string taskId, string agentId, DateTimeOffset startedAt, string? leaseProof, string? incarnation);

    Task OnResultAsync(AgentResult result);

    Task OnLogsAppendedAsync(string taskId);

    /// <summary>Notifications may have been lost (a subscription was down): look up the results of in-flight work.</summary>
    Task OnNotificationsMayBeMissedAsync();
}

/// <summary>The worker's side of the wire.</summary>
public interface IWorkerTransport
{
    /// <summary>Waits up to <paramref name="wait"/> for the next message of a domain and moves it to the active list; null if none came.</summary>
    Task<TaskLease?> TakeAsync(string domain, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>
    /// Records <c>in_progress</c> and <c>started_at</c>; the notice carries the worker's incarnation and its proof of
    /// the attempt's lease.
    /// </summary>
    Task MarkStartedAsync(TaskLease lease, string agentId, string? incarnation, DateTimeOffset startedAt, string? leaseProof, CancellationToken cancellationToken);

    Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken);

    /// <summary>
    /// Appends the attempt's last log lines, then writes the final result, removes the message from the active list and
    /// notifies — one step, so that the end of a log costs no round trip of its own. The lines are kept also when the
    /// message was withdrawn meanwhile (they say how the run ended); the result is not.
    /// </summary>
    Task CompleteAsync(TaskLease lease, AgentResult result, IReadOnlyList<string> lastLogLines, CancellationToken cancellationToken);

    /// <summary>Drops a message that cannot be run (malformed beyond reading its task id) from the active list.</summary>
    Task DiscardAsync(TaskLease lease, CancellationToken cancellationToken);
}

/// <summary>
/// A message a worker took. <see cref="Withdrawn"/> fires when the orchestrator takes the task back; <see cref="TaskId"/>
/// is the message's task id where the transport read it already (null: unreadable, or not read).
/// </summary>
public sealed record TaskLease(string Domain, string RawMessage, CancellationToken Withdrawn, string? TaskId = null);

/// <summary>The agent registry's records (the reference's <c>agents:*</c> keys), with the 30 s heartbeat TTL.</summary>
public interface IAgentDirectory
{
    Task RegisterAsync(AgentInfo agent, CancellationToken cancellationToken = default);

    /// <summary>Refreshes the heartbeat; false when the agent is not registered (it should register again).</summary>
    Task<bool> HeartbeatAsync(string agentId, CancellationToken cancellationToken = default);

    Task SetStatusAsync(string agentId, string status, CancellationToken cancellationToken = default);

    Task DeregisterAsync(string agentId, CancellationToken cancellationToken = default);

    Task<AgentInfo?> GetAsync(string agentId, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken = default);
}

public static class Heartbeats
{
    /// <summary>The reference's heartbeat key TTL: an agent is healthy while its last heartbeat is younger.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    /// <summary>The reference's heartbeat period.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
}
