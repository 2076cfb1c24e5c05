namespace Orchestrator.Contracts;

/// <summary>An agent of the network, as the registry (the reference's <c>agents:*</c> keys) knows it.</summary>
[GenerateSerializer, Alias("orchestrator.agent-info")]
public sealed record AgentInfo
{
    [Id(0)] public required string AgentId { get; init; }
    /// <summary><c>main</c>, <c>domain</c> or <c>worker</c>.</summary>
    [Id(1)] public required string Role { get; init; }
    [Id(2)] public string? DomainType { get; init; }
    /// <summary><c>starting</c>, <c>active</c>, <c>busy</c> or <c>stopping</c>.</summary>
    [Id(3)] public string Status { get; init; } = "active";
    [Id(4)] public string? ContainerId { get; init; }
    [Id(5)] public DateTimeOffset CreatedAt { get; init; }
    [Id(6)] public DateTimeOffset? LastHeartbeat { get; init; }
    /// <summary>True while the agent's heartbeat is fresh (within the heartbeat TTL).</summary>
    [Id(7)] public bool Healthy { get; init; }
    /// <summary>How many tasks the agent runs at once; agents that do not say count as 1.</summary>
    [Id(8)] public int Concurrency { get; init; } = 1;
    /// <summary>
    /// Which start of the agent's process this is, new at every start (as Orleans gives each silo a generation): the
    /// same id with another incarnation is an agent that restarted and lost whatever the old one held. Null for agents
    /// that do not say (the reference's).
    /// </summary>
    [Id(9)] public string? Incarnation { get; init; }
}

public static class AgentRoles
{
    public const string Main = "main";
    public const string Domain = "domain";
    public const string Worker = "worker";

    public static bool IsKnown(string role) => role is Main or Domain or Worker;
}
