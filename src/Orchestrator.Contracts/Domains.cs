namespace Orchestrator.Contracts;

[GenerateSerializer, Alias("orchestrator.domain-status")]
public enum DomainStatus
{
    Starting = 0,
    Running = 1,
    Unhealthy = 2,
    Stopped = 3,
}

/// <summary>One domain instance (a worker loop, a process or a container) of a domain type.</summary>
[GenerateSerializer, Alias("orchestrator.domain-view")]
public sealed record DomainView
{
    [Id(0)] public required string DomainId { get; init; }
    [Id(1)] public required string DomainType { get; init; }
    [Id(2)] public DomainStatus Status { get; init; }
    [Id(3)] public bool Healthy { get; init; }
    /// <summary>True when this orchestrator's runtime started it; false for agents that only registered in the registry.</summary>
    [Id(4)] public bool Managed { get; init; }
    [Id(5)] public DateTimeOffset CreatedAt { get; init; }
    [Id(6)] public int Concurrency { get; init; } = 1;
    [Id(7)] public string? Detail { get; init; }
}

/// <summary>Queue figures of one domain's scheduler.</summary>
[GenerateSerializer, Alias("orchestrator.scheduler-view")]
public sealed record SchedulerView
{
    [Id(0)] public required string Domain { get; init; }
    [Id(1)] public int QueuedHigh { get; init; }
    [Id(2)] public int QueuedNormal { get; init; }
    [Id(3)] public int QueuedLow { get; init; }
    [Id(4)] public int InFlight { get; init; }
    [Id(5)] public int Capacity { get; init; }
}

/// <summary>A domain type with its instances and queue.</summary>
[GenerateSerializer, Alias("orchestrator.domain-pool-view")]
public sealed record DomainPoolView(
    [property: Id(0)] string DomainType,
    [property: Id(1)] IReadOnlyList<DomainView> Domains,
    [property: Id(2)] SchedulerView Queue);
