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
    /// <summary>An operator holds the queue: work is taken and queued, nothing is dispatched until it is resumed.</summary>
    [Id(6)] public bool Paused { get; init; }
}

/// <summary>A domain type with its instances and queue.</summary>
[GenerateSerializer, Alias("orchestrator.domain-pool-view")]
public sealed record DomainPoolView(
    [property: Id(0)] string DomainType,
    [property: Id(1)] IReadOnlyList<DomainView> Domains,
    [property: Id(2)] SchedulerView Queue);

[GenerateSerializer, Alias("orchestrator.domain-operation-kind")]
public enum DomainOperationKind
{
    Spawn = 0,
    Stop = 1,
    Cleanup = 2,
    Replace = 3,
}

[GenerateSerializer, Alias("orchestrator.domain-operation-state")]
public enum DomainOperationState
{
    Running = 0,
    Succeeded = 1,
    Failed = 2,
}

/// <summary>
/// Runtime work of a domain pool (spawn, stop, cleanup, replace) that takes longer than a grain call may: it runs off
/// the pool's turn until done or until its deadline, and callers follow it with <see cref="IDomainPoolGrain.WaitForOperation"/>.
/// </summary>
[GenerateSerializer, Alias("orchestrator.domain-operation")]
public sealed record DomainOperation
{
    [Id(0)] public required string OperationId { get; init; }
    [Id(1)] public required string DomainType { get; init; }
    [Id(2)] public DomainOperationKind Kind { get; init; }
    [Id(3)] public DomainOperationState State { get; init; }
    [Id(4)] public DateTimeOffset StartedAt { get; init; }
    [Id(5)] public DateTimeOffset Deadline { get; init; }
    /// <summary>The instances it is about: the one stopped or replaced, those removed, the one spawned (last).</summary>
    [Id(6)] public IReadOnlyList<string> DomainIds { get; init; } = [];
    /// <summary>For a finished spawn (or replacement): the new instance.</summary>
    [Id(7)] public DomainView? Spawned { get; init; }
    [Id(8)] public string? Error { get; init; }
}
