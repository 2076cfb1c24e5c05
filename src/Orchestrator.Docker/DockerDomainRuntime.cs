using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Orchestrator.Core.Domains;
using Orchestrator.Redis;

namespace Orchestrator.Docker;

/// <summary>
/// What a domain container's worker is told, as the silo's configuration says for its type; <paramref name="UsageFormat"/>
/// and <paramref name="PricesJson"/> unset leave the worker's defaults, as does <paramref name="Run"/>.
/// </summary>
public sealed record DomainWorkerSettings(
    string AgentCommand, int Concurrency, TimeSpan ShutdownGrace, TimeSpan? StallTimeout = null, string? UsageFormat = null, string? PricesJson = null,
    WorkerRunSettings? Run = null);

/// <summary>
/// How the worker runs and records an attempt: merge mode, how long merged branches stay, output limits, the names of
/// the variables its agents get (their values come from the silo's environment) and the globs left out of the commit.
/// </summary>
public sealed record WorkerRunSettings(
    string MergeMode, int KeepMergedBranchesDays, int MaxLineBytes, long MaxLogBytes, IReadOnlyList<string> AgentPassEnvironment, IReadOnlyList<string> IgnorePatterns);

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

    /// <summary>
    /// Marks the throwaway container of the workspace check (ours alone: the reference's spawner does not list it), so
    /// that one a silo left behind when it died mid-check is found and removed.
    /// </summary>
    public const string WorkspaceProbeLabel = "orchestrator.workspace-probe";

    /// <summary>A workspace check lasts seconds; a probe this old was left behind by a silo that stopped during one.</summary>
    private static readonly TimeSpan LeftoverProbeAge = TimeSpan.FromMinutes(10);

    /// <summary>Log lines kept in the detail of a crash-looping container (and so in the error of the work that waited for it).</summary>
    private const int CrashLogLines = 20;

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
        var parameters = Parameters(domainType, domainId, container, worker);
        CreateContainerResponse created;
        try
        {
            await CheckWorkspaceWritableAsync(parameters, cancellationToken).ConfigureAwait(false);
            created = await _docker.Containers.CreateContainerAsync(parameters, cancellationToken).ConfigureAwait(false);
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
        var instances = await Task.WhenAll(containers
            .Where(c => c.Labels.ContainsKey(DomainIdLabel) && c.Labels.ContainsKey(DomainLabel))
            .Select(c => DescribeAsync(c, cancellationToken))).ConfigureAwait(false);
        return instances.OfType<DomainInstance>().OrderBy(i => i.CreatedAt).ToArray();
    }

    /// <summary>
    /// One container as an instance. Docker restarts a worker that exits (restart policy <c>unless-stopped</c>), so a
    /// worker that dies at every start is "running" now and then; its restart count tells: from
    /// <see cref="DockerRuntimeOptions.CrashLoopRestarts"/> on it is unhealthy, with its exit code and last log lines.
    /// </summary>
    private async Task<DomainInstance?> DescribeAsync(ContainerListResponse container, CancellationToken cancellationToken)
    {
        ContainerInspectResponse inspected;
        try
        {
            inspected = await _docker.Containers.InspectContainerAsync(container.ID, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return null; // removed since it was listed
        }

        var domainType = container.Labels[DomainLabel];
        var (instanceState, detail) = (StateOf(container.State, container.Status), $"container {container.ID[..12]}: {container.Status}");
        if (inspected.RestartCount >= options.CrashLoopRestarts && instanceState != DomainInstanceState.Exited && !UpSinceBackoffReset(inspected))
        {
            var logs = await LastLogLinesAsync(container.ID, CrashLogLines, cancellationToken).ConfigureAwait(false);
            (instanceState, detail) = (DomainInstanceState.Unhealthy,
                $"container {ContainerName(container.Labels[DomainIdLabel])} keeps exiting: restarted {inspected.RestartCount} times, last exit code {inspected.State!.ExitCode}. Its last log lines:\n{logs}");
        }

        return new DomainInstance(
            container.Labels[DomainIdLabel],
            domainType,
            instanceState,
            AsUtc(container.Created),
            workerSettings(domainType).Concurrency,
            detail);
    }

    /// <summary>
    /// Docker forgets a container's restart backoff once it has run 10 s; one that has been up that long since its last
    /// restart is judged by its health like any other, whatever its restart count (restarts long ago are no loop).
    /// </summary>
    private bool UpSinceBackoffReset(ContainerInspectResponse inspected) =>
        inspected.State is { Running: true, Restarting: false } state
        && DateTimeOffset.TryParse(state.StartedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var started)
        && time.GetUtcNow() - started > TimeSpan.FromSeconds(10);

    /// <summary>
    /// The worker exits at once when it cannot write its workspace, and Docker would restart it forever: a throwaway
    /// container of the same image, user, capabilities and binds checks first, as the worker will see it (uid mapping,
    /// ACLs and read-only mounts included).
    /// </summary>
    private async Task CheckWorkspaceWritableAsync(CreateContainerParameters worker, CancellationToken cancellationToken)
    {
        await RemoveLeftoverProbesAsync(cancellationToken).ConfigureAwait(false);
        var limits = worker.HostConfig!;
        var probe = await _docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = worker.Image,
            User = worker.User,
            Labels = new Dictionary<string, string> { [WorkspaceProbeLabel] = "true" },
            Entrypoint = ["/bin/sh", "-c", "id -u; test -w /workspace && test -x /workspace"],
            Cmd = [],
            HostConfig = new HostConfig
            {
                Binds = limits.Binds,
                NetworkMode = "none",
                SecurityOpt = limits.SecurityOpt,
                CapDrop = limits.CapDrop,
                CapAdd = limits.CapAdd,
            },
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await _docker.Containers.StartContainerAsync(probe.ID, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var exit = await _docker.Containers.WaitContainerAsync(probe.ID, cancellationToken).ConfigureAwait(false);
            if (exit.StatusCode != 0)
            {
                var uid = (await LastLogLinesAsync(probe.ID, 1, cancellationToken).ConfigureAwait(false)).Trim();
                var user = worker.User is { Length: > 0 } configured ? configured : $"{uid} (the image's user)";
                var host = Path.GetFullPath(workspace);
                throw new DomainRuntimeUnavailableException(
                    $"The workspace {host} is not writable for the container's user {user}, so its worker could not start. "
                    + $"Make it writable for that user (`chown -R {uid} {host}` or `chmod o+rwx {host}`), or set Domains:Docker:Defaults:User to the uid:gid that owns it.");
            }
        }
        catch (DockerApiException e)
        {
            // An image without /bin/sh cannot be checked this way; the crash-loop check still catches a worker that cannot start.
            LogProbeSkipped(worker.Image, e.Message);
        }
        finally
        {
            await _docker.Containers.RemoveContainerAsync(probe.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Probes of any silo older than <see cref="LeftoverProbeAge"/>: a live one is never that old, so none in use goes.
    /// Best effort: a sweep that fails (another silo removing the same one, an engine error) fails no spawn.
    /// </summary>
    private async Task RemoveLeftoverProbesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RemoveLeftoverProbesOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            LogProbeSweepFailed(e.Message);
        }
    }

    private async Task RemoveLeftoverProbesOnceAsync(CancellationToken cancellationToken)
    {
        var probes = await _docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{WorkspaceProbeLabel}=true"] = true } },
        }, cancellationToken).ConfigureAwait(false);
        var cutoff = time.GetUtcNow() - LeftoverProbeAge;
        foreach (var leftover in probes.Where(p => AsUtc(p.Created) < cutoff))
        {
            try
            {
                await _docker.Containers.RemoveContainerAsync(leftover.ID, new ContainerRemoveParameters { Force = true }, cancellationToken).ConfigureAwait(false);
                LogLeftoverProbeRemoved(leftover.ID[..12], leftover.Created);
            }
            catch (DockerContainerNotFoundException)
            {
                // another silo's spawn removed it first
            }
        }
    }

    /// <summary>The engine's times are UTC; one the client left without a kind is read as such.</summary>
    private static DateTimeOffset AsUtc(DateTime engineTime) =>
        engineTime.Kind == DateTimeKind.Unspecified ? new DateTimeOffset(engineTime, TimeSpan.Zero) : new DateTimeOffset(engineTime);

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
        if (worker.StallTimeout is { } stall)
        {
            environment.Add($"STALL_TIMEOUT_SECONDS={Math.Max(1, (int)stall.TotalSeconds)}");
        }

        if (worker.UsageFormat is { } usage)
        {
            environment.Add($"AGENT_USAGE_FORMAT={usage}");
        }

        if (worker.PricesJson is { } prices)
        {
            environment.Add($"AGENT_PRICES={prices}");
        }

        var passed = container.PassEnvironment ?? [];
        if (worker.Run is { } run)
        {
            environment.Add($"MERGE_MODE={run.MergeMode}");
            environment.Add($"KEEP_MERGED_BRANCHES_DAYS={run.KeepMergedBranchesDays}");
            environment.Add($"MAX_LINE_BYTES={run.MaxLineBytes}");
            environment.Add($"MAX_LOG_BYTES={run.MaxLogBytes}");
            environment.Add($"AGENT_PASS_ENVIRONMENT={string.Join(',', run.AgentPassEnvironment)}"); // empty: the agents get none
            environment.Add($"IGNORE_PATTERNS={string.Join(',', run.IgnorePatterns)}");
            passed = [.. passed.Union(run.AgentPassEnvironment, StringComparer.Ordinal)]; // what the agents get, the container must have
        }

        // Never over what the runtime sets itself: a name such as REDIS_URL listed here would hand the worker, and through
        // it the agents, the silo's own credentials in place of the domain's.
        var set = environment.Select(e => e[..e.IndexOf('=')]).ToHashSet(StringComparer.Ordinal);
        foreach (var name in passed.Where(n => !set.Contains(n)))
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
                var logs = await LastLogLinesAsync(containerId, 50, cancellationToken).ConfigureAwait(false);
                await RemoveAsync(domainId, CancellationToken.None).ConfigureAwait(false);
                throw new DomainRuntimeUnavailableException(state.Running
                    ? $"Container {ContainerName(domainId)} did not start within {options.StartTimeout.TotalSeconds:0} s"
                    : $"Container {ContainerName(domainId)} exited with code {state.ExitCode} at start. Its last log lines:\n{logs}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<string> LastLogLinesAsync(string containerId, int lines, CancellationToken cancellationToken)
    {
        try
        {
            using var stream = await _docker.Containers.GetContainerLogsAsync(containerId,
                new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = lines.ToString(CultureInfo.InvariantCulture) }, cancellationToken).ConfigureAwait(false);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check the workspace's permissions with image {Image} before a spawn: {Reason}")]
    private partial void LogProbeSkipped(string image, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove leftover workspace probe containers before a spawn: {Reason}")]
    private partial void LogProbeSweepFailed(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed workspace probe container {ContainerId} (created {Created:O}), left behind by a silo that stopped during a workspace check")]
    private partial void LogLeftoverProbeRemoved(string containerId, DateTime created);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created container {Name} for {DomainType} from image {Image}")]
    private partial void LogCreated(string name, string domainType, string image);
}

/// <summary>The domain runtime cannot do what was asked (engine unreachable, image missing, container died at start); the message says what to do.</summary>
public sealed class DomainRuntimeUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
