namespace Orchestrator.Redis;

/// <summary>
/// The reference network's key and channel names, plus the few channels of our own (under <c>orchestrator:</c>)
/// that reference runners neither read nor need.
/// </summary>
public static class RedisKeys
{
    public static string Pending(string domain) => $"tasks:pending:{domain}";

    public static string Active(string domain) => $"tasks:active:{domain}";

    /// <summary>Channel: the task JSON is published here when queued.</summary>
    public static string Notifications(string domain) => $"notifications:{domain}";

    /// <summary>Hash of the task's result, and the channel its final result is published on.</summary>
    public static string Result(string taskId) => $"results:{taskId}";

    public static string Logs(string taskId) => $"results:{taskId}:logs";

    public const string ResultChannelPattern = "results:*";

    public const string AllAgents = "agents:all";
    public const string MainAgent = "agents:main";
    public const string DomainAgents = "agents:domains";
    public const string WorkerAgents = "agents:workers";

    public static string DomainAgentsOf(string domainType) => $"agents:domains:{domainType}";

    public static string AgentInfo(string agentId) => $"agents:info:{agentId}";

    public static string Heartbeat(string agentId) => $"agents:heartbeat:{agentId}";

    /// <summary>Our channel: a worker of ours took a task (<c>{"task_id", "agent_id", "started_at"}</c>).</summary>
    public const string StartedChannel = "orchestrator:events:started";

    /// <summary>Our channel: log lines were appended to a task (the task id).</summary>
    public const string LogsChannel = "orchestrator:events:logs";

    /// <summary>Our channel: the orchestrator took a task back; a worker of ours holding it stops (the task id).</summary>
    public const string WithdrawnChannel = "orchestrator:events:withdrawn";
}
