namespace Orchestrator.Core.Domains;

/// <summary>
/// Starts and stops domain instances — each one a worker loop serving one domain type. The embedded runtime runs
/// them in the silo's process; the Docker runtime runs them as containers.
/// </summary>
public interface IDomainRuntime
{
    /// <summary>Starts a new instance; its id is also the agent id it registers with.</summary>
    Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default);

    Task StopAsync(string domainId, CancellationToken cancellationToken = default);

    /// <summary>Forgets a stopped instance (removes its container).</summary>
    Task RemoveAsync(string domainId, CancellationToken cancellationToken = default);

    /// <summary>Instances this runtime knows, optionally of one type.</summary>
    Task<IReadOnlyList<DomainInstance>> ListAsync(string? domainType = null, CancellationToken cancellationToken = default);
}

public enum DomainInstanceState
{
    Starting,
    Running,
    Unhealthy,
    Exited,
}

public sealed record DomainInstance(
    string DomainId,
    string DomainType,
    DomainInstanceState State,
    DateTimeOffset CreatedAt,
    int Concurrency,
    string? Detail = null);

public static class DomainIds
{
    /// <summary>The reference's domain id: <c>{domain_type}-{8 lowercase hex}</c>.</summary>
    public static string New(string domainType) => $"{domainType}-{Guid.NewGuid():N}"[..(domainType.Length + 9)];
}
