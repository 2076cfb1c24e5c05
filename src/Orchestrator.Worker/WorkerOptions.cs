using Orchestrator.Core.Transport;

namespace Orchestrator.Worker;

/// <summary>One domain worker: who it is, what it serves, and how it runs its agent.</summary>
public sealed class WorkerOptions
{
    public required string AgentId { get; set; }
    public required string DomainType { get; set; }
    /// <summary><c>domain</c> for a domain instance, as the reference's containers register.</summary>
    public string Role { get; set; } = "domain";
    public string? ContainerId { get; set; }
    /// <summary>How many tasks run at once.</summary>
    public int Concurrency { get; set; } = 1;
    /// <summary>The reference's heartbeat period; its TTL is three times as long.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// How long a heartbeat counts (the reference's 30 s). A worker whose last successful heartbeat is older takes no
    /// new task: the orchestrator already counts it lost and has handed its work to another.
    /// </summary>
    public TimeSpan HeartbeatTtl { get; set; } = Heartbeats.Ttl;
    /// <summary>How long one wait on the pending list lasts (the reference's BRPOPLPUSH timeout).</summary>
    public TimeSpan TakeWait { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>On stop, how long running tasks may still finish before they are killed and reported failed.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Output lines are sent to the task's log at most this often (and when <see cref="LogBatchLines"/> are waiting).</summary>
    public TimeSpan LogFlushInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    public int LogBatchLines { get; set; } = 200;
    /// <summary>An attempt's agent output kept in the task's log; past it a marker line, then nothing more.</summary>
    public long MaxLogBytes { get; set; } = 4 * 1024 * 1024;
}
