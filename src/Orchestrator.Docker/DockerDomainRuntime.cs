using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Orchestrator.Core.Domains;
using Orchestrator.Redis;

namespace Orchestrator.Docker;

/// <summary>What a domain's worker runs and how, as the silo's configuration says for its type.</summary>
public sealed record DomainWorkerSettings(string AgentCommand, int Concurrency, TimeSpan ShutdownGrace);

/// <summary>
/// Domains as Docker containers, named, labelled, mounted and limited as the reference network's spawner does, so
/// that either side lists the other's containers. The engine is the record: listing goes by labels, so containers
/// that outlived a silo are adopted, never duplicated.
/// </summary>
public sealed partial class DockerDomainRuntime(
    DockerRuntimeOptions options,
    string workspace,
    string redisUrl,
    Func<string, DomainWorkerSettings> workerSettings,
    TimeProvider time,
    ILogger<DockerDomainRuntime> logger) : IDomainRuntime, IDisposable
{
    public const string DomainLabel = "distributed-agent-network.domain";
    public const string DomainIdLabel = "distributed-agent-network.domain-id";
    public const string ManagedLabel = "distributed-agent-network.managed";

    private readonly DockerClient _docker = new DockerClientBuilder().WithEndpoint(new Uri(options.ResolvedEndpoint)).Build();

    public static string ContainerName(string domainId) => $"domain-{domainId}";

    /// <summary>Fails with a message naming the endpoint when the engine does not answer.</summary>
    public async Task CheckReachableAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _docker.System.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new DomainRuntimeUnavailableException(
                $"The Docker engine at {options.ResolvedEndpoint} is not reachable ({e.GetBaseException().Message}). Start dockerd, or set Domains:Docker:Endpoint / DOCKER_HOST.", e);
        }
    }

    public async Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default)
    {
        await CheckReachableAsync(cancellationToken).ConfigureAwait(false);
        var container = options.For(domainType);
        var worker = workerSettings(domainType);
        var domainId = DomainIds.New(domainType);
        CreateContainerResponse created;
        try
        {
            created = await _docker.Containers.CreateContainerAsync(Parameters(domainType, domainId, container, worker), cancellationToken).ConfigureAwait(false);
        }
        catch (DockerImageNotFoundException)
        {
            throw new DomainRuntimeUnavailableException(
                $"The image '{container.Image}' is not on the Docker engine at {options.ResolvedEndpoint}. Build it with `docker/build-images.sh worker` (no registry needed), or set Domains:Docker:Defaults:Image.");
        }

        LogCreated(ContainerName(domainId), domainType, container.Image!);
        await _docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false);
        await WaitUntilRunningAsync(created.ID, domainId, cancellationToken).ConfigureAwait(false);
        return new DomainInstance(domainId, domainType, DomainInstanceState.Starting, time.GetUtcNow(), worker.Concurrency, $"container {created.ID[..12]}");
    }

    public async Task StopAsync(string domainId, CancellationToken cancellationToken = default)
    {
        var grace = workerSettings(DomainTypeOf(domainId)).ShutdownGrace + TimeSpan.FromSeconds(5);
        try
        {
            await _docker.Containers.StopContainerAsync(ContainerName(domainId),
                new ContainerStopParameters { WaitBeforeKillSeconds = (uint)grace.TotalSeconds }, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
    }

    public async Task RemoveAsync(string domainId, CancellationToken cancellationToken = default)
    {
        try
        {
            await _docker.Containers.RemoveContainerAsync(ContainerName(domainId), new ContainerRemoveParameters { Force = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
        }
    }

    public async Task<IReadOnlyList<DomainInstance>> ListAsync(string? domainType = null, CancellationToken cancellationToken = default)
    {
        var labels = new Dictionary<string, bool> { [$"{ManagedLabel}=true"] = true };
        if (domainType is not null)
        {
            labels[$"{DomainLabel}={domainType}"] = true;
        }

        var containers = await _docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = labels },
        }, cancellationToken).ConfigureAwait(false);
        return containers
            .Where(c => c.Labels.ContainsKey(DomainIdLabel) && c.Labels.ContainsKey(DomainLabel))
            .Select(c => new DomainInstance(
                c.Labels[DomainIdLabel],
                c.Labels[DomainLabel],
                StateOf(c.State, c.Status),
                new DateTimeOffset(DateTime.SpecifyKind(c.Created, DateTimeKind.Utc)),
                workerSettings(c.Labels[DomainLabel]).Concurrency,
                $"container {c.ID[..12]}: {c.Status}"))
            .OrderBy(i => i.CreatedAt)
            .ToArray();
    }

    private CreateContainerParameters Parameters(string domainType, string domainId, DomainContainerOptions container, DomainWorkerSettings worker)
    {
        var environment = new List<string>
        {
            "AGENT_ROLE=domain",
            $"AGENT_ID={domainId}",
            $"DOMAIN_TYPE={domainType}",
            $"REDIS_URL={RedisUrlFor(domainType)}",
            "WORKSPACE=/workspace",
            "AGENT_CONFIG=/agent-config",
            $"AGENT_COMMAND={worker.AgentCommand}",
            $"WORKER_CONCURRENCY={worker.Concurrency}",
            $"SHUTDOWN_GRACE_SECONDS={Math.Max(1, (int)worker.ShutdownGrace.TotalSeconds)}",
        };
        foreach (var name in container.PassEnvironment ?? [])
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                environment.Add($"{name}={value}");
            }
        }

        environment.AddRange((container.Environment ?? []).Select(p => $"{p.Key}={p.Value}"));

        var binds = new List<string> { $"{Path.GetFullPath(workspace)}:/workspace" };
        var template = Path.GetFullPath(Path.Combine(options.Templates, domainType));
        if (Directory.Exists(template))
        {
            binds.Add($"{template}:/agent-config:ro");
        }

        if (RedisConnection.CertificateAuthorityOf(options.RedisUrl ?? redisUrl) is { } authority)
        {
            // rediss:// with a private CA: the worker finds the CA at the path its URL names.
            binds.Add($"{authority}:{authority}:ro");
        }

        binds.AddRange(container.Mounts ?? []);
        return new CreateContainerParameters
        {
            Name = ContainerName(domainId),
            Hostname = domainId,
            Image = container.Image!,
            User = container.User ?? "", // empty: the image's user
            Env = environment,
            Labels = new Dictionary<string, string>
            {
                [DomainLabel] = domainType,
                [DomainIdLabel] = domainId,
                [ManagedLabel] = "true",
            },
            HostConfig = new HostConfig
            {
                Binds = binds,
                Memory = container.MemoryBytes ?? 0,
                NanoCPUs = (long)((container.Cpus ?? 0) * 1_000_000_000),
                NetworkMode = container.NetworkMode ?? "bridge",
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.UnlessStopped },
                SecurityOpt = ["no-new-privileges"],
                CapDrop = ["ALL"],
                CapAdd = container.CapAdd ?? [],
                PidsLimit = container.PidsLimit,
            },
        };
    }

    /// <summary>
    /// With <see cref="DockerRuntimeOptions.RedisUsers"/>, the domain's own ACL user and password in the URL. The
    /// password goes in the container's environment, not a mounted file: the agent runs under the worker's uid and
    /// could read any file the worker can, while the worker's environment is closed to it (agents start from an
    /// allow-listed environment; the worker is not dumpable, so /proc/&lt;worker&gt;/environ is not readable).
    /// </summary>
    private string RedisUrlFor(string domainType)
    {
        var shared = options.RedisUrl ?? redisUrl;
        if (options.RedisUsers is not { Length: > 0 } users)
        {
            return shared;
        }

        var user = $"worker-{domainType}";
        var file = Path.Combine(users, $"{user}.password");
        try
        {
            return RedisConnection.WithCredentials(shared, user, File.ReadAllText(file).TrimEnd('\r', '\n'));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DomainRuntimeUnavailableException(
                $"Domains:Docker:RedisUsers: the password of Redis user {user} ('{file}') cannot be read ({e.Message}). Make it with `docker/make-redis-acl.sh {users} {domainType}` and load the new ACL file into Redis.");
        }
    }

    /// <summary>The reference's wait: up to 30 s for <c>running</c>; a container that exits instead fails the spawn with its last log lines.</summary>
    private async Task WaitUntilRunningAsync(string containerId, string domainId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.StartTimeout;
        while (true)
        {
            var state = (await _docker.Containers.InspectContainerAsync(containerId, cancellationToken).ConfigureAwait(false)).State!;
            if (state.Running)
            {
                return;
            }

            if (state.Status is "exited" or "dead" || time.GetUtcNow() > deadline)
            {
                var logs = await LastLogLinesAsync(containerId, cancellationToken).ConfigureAwait(false);
                await RemoveAsync(domainId, CancellationToken.None).ConfigureAwait(false);
                throw new DomainRuntimeUnavailableException(state.Running
                    ? $"Container {ContainerName(domainId)} did not start within {options.StartTimeout.TotalSeconds:0} s"
                    : $"Container {ContainerName(domainId)} exited with code {state.ExitCode} at start. Its last log lines:\n{logs}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<string> LastLogLinesAsync(string containerId, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = await _docker.Containers.GetContainerLogsAsync(containerId,
                new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "50" }, cancellationToken).ConfigureAwait(false);
            var (stdout, stderr) = await stream.ReadOutputToEndAsync(cancellationToken).ConfigureAwait(false);
            return (stdout + stderr).Trim();
        }
        catch (DockerApiException e)
        {
            return $"(logs unavailable: {e.Message})";
        }
    }

    private static DomainInstanceState StateOf(string state, string status) => state switch
    {
        "running" when status.Contains("(unhealthy)", StringComparison.Ordinal) => DomainInstanceState.Unhealthy,
        "running" when status.Contains("(health: starting)", StringComparison.Ordinal) => DomainInstanceState.Starting,
        "running" => DomainInstanceState.Running,
        "created" or "restarting" => DomainInstanceState.Starting,
        _ => DomainInstanceState.Exited,
    };

    private static string DomainTypeOf(string domainId) => domainId[..Math.Max(0, domainId.LastIndexOf('-'))];

    public void Dispose() => _docker.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Created container {Name} for {DomainType} from image {Image}")]
    private partial void LogCreated(string name, string domainType, string image);
}

/// <summary>The domain runtime cannot do what was asked (engine unreachable, image missing, container died at start); the message says what to do.</summary>
public sealed class DomainRuntimeUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
