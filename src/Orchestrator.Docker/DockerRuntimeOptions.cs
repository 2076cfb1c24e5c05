namespace Orchestrator.Docker;

/// <summary>How domain containers are made, bound from <c>Domains:Docker</c>; <see cref="Types"/> overrides per domain type.</summary>
public sealed class DockerRuntimeOptions
{
    public const string SectionName = "Domains:Docker";

    /// <summary>The engine: <c>unix:///var/run/docker.sock</c>, <c>tcp://host:2375</c>; default <c>DOCKER_HOST</c>, else the local socket.</summary>
    public string? Endpoint { get; set; }

    /// <summary>Redis as the containers reach it (their <c>REDIS_URL</c>); default: the silo's Redis setting.</summary>
    public string? RedisUrl { get; set; }

    /// <summary>
    /// A directory with <c>worker-{domain}.password</c> files (<c>docker/make-redis-acl.sh</c>): each domain's containers
    /// then log in to Redis as their domain's ACL user <c>worker-{domain}</c>, never with the silo's own credentials.
    /// </summary>
    public string? RedisUsers { get; set; }

    /// <summary>The domain templates on the host; <c>{Templates}/{domain type}</c> is mounted at /agent-config read-only when it exists.</summary>
    public string Templates { get; set; } = Path.Combine(AppContext.BaseDirectory, "domain-templates");

    /// <summary>How long a new container may take to reach <c>running</c> (the reference's 30 s).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Restarts by Docker after which a container that has not stayed up since counts as crash-looping: unhealthy, and replaced by the pool.</summary>
    public int CrashLoopRestarts { get; set; } = 3;

    public DomainContainerOptions Defaults { get; set; } = new();

    public Dictionary<string, DomainContainerOptions> Types { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public string ResolvedEndpoint => Endpoint is { Length: > 0 } endpoint ? endpoint
        : Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host
        : "unix:///var/run/docker.sock";

    /// <summary>The reference's defaults, with <see cref="Defaults"/> and then the domain type's own settings laid over them.</summary>
    public DomainContainerOptions For(string domainType)
    {
        var defaults = DomainContainerOptions.Reference.With(Defaults);
        return Types.TryGetValue(domainType, out var own) ? defaults.With(own) : defaults;
    }
}

/// <summary>One domain type's container: image, limits, network, environment and mounts. Hardened by default.</summary>
public sealed class DomainContainerOptions
{
    public string? Image { get; set; }
    /// <summary>Bytes; the reference's 1 GiB.</summary>
    public long? MemoryBytes { get; set; }
    /// <summary>The reference's half a CPU.</summary>
    public double? Cpus { get; set; }
    /// <summary><c>bridge</c> (Docker's default), <c>host</c>, or a network's name.</summary>
    public string? NetworkMode { get; set; }
    /// <summary>Names of the silo's environment variables passed through (e.g. <c>ANTHROPIC_API_KEY</c>); their values are never logged.</summary>
    public List<string>? PassEnvironment { get; set; }
    public Dictionary<string, string>? Environment { get; set; }
    /// <summary>Extra binds, <c>host-path:container-path[:ro]</c>.</summary>
    public List<string>? Mounts { get; set; }
    /// <summary>Capabilities kept; every other one is dropped.</summary>
    public List<string>? CapAdd { get; set; }
    public long? PidsLimit { get; set; }
    /// <summary>The user the container runs as; default: the image's (ours is a non-root user).</summary>
    public string? User { get; set; }

    public static DomainContainerOptions Reference { get; } = new()
    {
        Image = "orchestrator-worker:local",
        MemoryBytes = 1L << 30,
        Cpus = 0.5,
        NetworkMode = "bridge",
        PassEnvironment = ["ANTHROPIC_API_KEY"],
        Environment = [],
        Mounts = [],
        CapAdd = [],
        PidsLimit = 512,
    };

    public DomainContainerOptions With(DomainContainerOptions over) => new()
    {
        Image = over.Image ?? Image,
        MemoryBytes = over.MemoryBytes ?? MemoryBytes,
        Cpus = over.Cpus ?? Cpus,
        NetworkMode = over.NetworkMode ?? NetworkMode,
        PassEnvironment = over.PassEnvironment ?? PassEnvironment,
        Environment = over.Environment is null ? Environment : new Dictionary<string, string>((Environment ?? []).Concat(over.Environment).GroupBy(p => p.Key).Select(g => g.Last())),
        Mounts = over.Mounts ?? Mounts,
        CapAdd = over.CapAdd ?? CapAdd,
        PidsLimit = over.PidsLimit ?? PidsLimit,
        User = over.User ?? User,
    };
}
