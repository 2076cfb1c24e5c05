using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Transport;
using Orchestrator.Grains.Persistence;
using Orleans.Core;

namespace Orchestrator.Grains.Domains;

[GenerateSerializer, Alias("orchestrator.domain-pool-state")]
public sealed class DomainPoolState
{
    /// <summary>Instances stopped on purpose, which health checks must not replace.</summary>
    [Id(0)] public HashSet<string> StoppedByUser { get; set; } = [];
}

/// <summary>
/// The domains of one type: the seed's get-healthy-or-spawn, periodic health checks that replace dead instances
/// (and have their in-flight work run again), stop and cleanup. A domain is healthy when its runtime says it runs
/// and its registry heartbeat is fresh. Agents that only registered (not started by our runtime) count too.
/// Runtime work runs as <see cref="DomainOperation"/>s off this grain's turn and reports back through
/// <see cref="OnOperationFinished"/>, so no call waits for Docker and the state changes only in this grain's turns.
/// </summary>
public sealed partial class DomainPoolGrain(
    [PersistentState("pool", StorageNames.Orchestrator)] IPersistentState<DomainPoolState> state,
    IDomainRuntime runtime,
    IAgentDirectory directory,
    IOptions<OrchestratorOptions> options,
    TimeProvider time,
    ILogger<DomainPoolGrain> logger) : StoredStateGrain<DomainPoolState>, IDomainPoolGrain, IRemindable
{
    protected override IStorage<DomainPoolState> StoredState => state;

    private const string HealthReminder = "health";

    /// <summary>Operations clients may have under way at once per pool: each may start a container.</summary>
    private const int MaxClientOperations = 8;

    private readonly HashSet<string> _reportedLost = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _reportedIncarnations = new(StringComparer.Ordinal);
    private readonly DomainPoolWork _work = new(runtime, directory, logger);
    private DomainOperations _operations = null!;
    private int _lastCapacity = -1;

    /// <summary>Replacements since an instance of this domain was last seen healthy (a crash loop counts up here).</summary>
    private int _failedReplacements;

    // Kept: Orleans makes a new string of the key on each call.
    private string Domain => field ??= this.GetPrimaryKeyString();

    private IDomainSchedulerGrain Scheduler => GrainFactory.Reference<IDomainSchedulerGrain>(Domain);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _operations = new DomainOperations(Domain, time, logger);
        this.RegisterGrainTimer(_ => CheckHealth(), new GrainTimerCreationOptions(options.Value.HealthCheckInterval, options.Value.HealthCheckInterval));
        await this.RegisterOrUpdateReminder(HealthReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        // Instances that outlived a silo restart are found through the runtime and the registry: adopted, not duplicated.
        await PublishCapacityAsync(await ViewsAsync());
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => CheckHealth();

    public async Task EnsureHealthy()
    {
        if (!_operations.Starting && !(await ViewsAsync()).Any(Usable))
        {
            StartSpawnOperation();
        }
    }

    public async Task<DomainOperation> StartSpawn()
    {
        EnsureRoomForClientOperation();
        var cap = options.Value.MaxInstancesPerDomain;
        var running = (await InstancesAsync()).Count(i => i.State != DomainInstanceState.Exited);
        if (running + _operations.Spawning >= cap)
        {
            throw new TaskConflictException(
                $"The {Domain} domain has {running} instance(s) running and {_operations.Spawning} starting, the most Orchestrator:MaxInstancesPerDomain ({cap}) allows. "
                + $"Stop one first (`orchestrator domains stop <id>`), or raise the setting.");
        }

        return StartSpawnOperation();
    }

    public async Task<IReadOnlyList<DomainView>> List() => await ViewsAsync();

    public async Task<DomainOperation?> StartStop(string domainId)
    {
        if ((await InstancesAsync()).All(i => i.DomainId != domainId))
        {
            return null;
        }

        EnsureRoomForClientOperation();
        state.State.StoppedByUser.Add(domainId);
        await Writer.WriteAsync();
        var work = _work;
        return Run(DomainOperationKind.Stop, [domainId], async (operation, ct) =>
        {
            await work.StopAsync(domainId, ct);
            return operation;
        });
    }

    public async Task<DomainOperation> StartCleanup(bool all)
    {
        EnsureRoomForClientOperation();
        var ids = (await InstancesAsync()).Where(i => all || i.State == DomainInstanceState.Exited).Select(i => i.DomainId).ToArray();
        var work = _work;
        return Run(DomainOperationKind.Cleanup, ids, async (operation, ct) =>
        {
            await work.RemoveAsync(ids, stop: all, ct);
            return operation;
        });
    }

    public Task<DomainOperation?> WaitForOperation(string operationId, TimeSpan maxWait) => _operations.WaitAsync(operationId, maxWait);

    public Task OnOperationFinished(DomainOperation finished)
    {
        // One that passed its deadline was already failed and acted on; a late success still shows in the capacity.
        return _operations.Finish(finished) ? ApplyAsync(finished) : PublishCapacityAsync(null);
    }

    public async Task CheckHealth()
    {
        foreach (var expired in _operations.Expire())
        {
            await ApplyAsync(expired);
        }

        var now = time.GetUtcNow();
        var instances = await InstancesAsync();
        var agents = await AgentsAsync();
        await ReportRestartsAsync(agents.Values);
        if (instances.Any(i => ToView(i, agents.GetValueOrDefault(i.DomainId)).Healthy))
        {
            _failedReplacements = 0;
        }

        foreach (var instance in instances.Where(i => !state.State.StoppedByUser.Contains(i.DomainId) && !_operations.Touches(i.DomainId)))
        {
            agents.TryGetValue(instance.DomainId, out var agent);
            var pastGrace = now - instance.CreatedAt > options.Value.StartupGrace;
            var reason = instance.State switch
            {
                DomainInstanceState.Exited => $"it exited ({instance.Detail ?? "no detail"})",
                DomainInstanceState.Unhealthy => $"its runtime reports it unhealthy ({instance.Detail ?? "no detail"})",
                _ when agent is { Healthy: false } => $"its heartbeat is older than the TTL (last {agent.LastHeartbeat:O})",
                _ when agent is null && pastGrace => "it never registered in the registry",
                _ => null,
            };
            if (reason is not null)
            {
                await ReplaceAsync(instance.DomainId, reason);
            }
        }

        var managed = instances.Select(i => i.DomainId).ToHashSet();
        foreach (var agent in agents.Values.Where(a => !managed.Contains(a.AgentId)))
        {
            if (agent.Healthy)
            {
                _reportedLost.Remove(agent.AgentId);
            }
            else if (_reportedLost.Add(agent.AgentId))
            {
                LogExternalLost(agent.AgentId, Domain);
                await Scheduler.AgentLost(agent.AgentId);
            }
        }

        await PublishCapacityAsync(await ViewsAsync());
    }

    /// <summary>
    /// Retires a dead instance (its in-flight work runs again at once) and spawns its successor, unless instances keep
    /// dying without one ever being healthy: then the pool stops, and the work waiting for the domain fails with why.
    /// </summary>
    private async Task ReplaceAsync(string domainId, string reason)
    {
        LogReplacing(domainId, Domain, reason);
        OrchestratorMetrics.DomainReplaced(Domain);
        await Scheduler.AgentLost(domainId);
        var giveUp = _failedReplacements >= options.Value.MaxFailedReplacements
            ? $"No {Domain} domain stays up: {_failedReplacements + 1} instances in a row failed. The last one, {domainId}, was removed because {reason}"
            : null;
        _failedReplacements = giveUp is null ? _failedReplacements + 1 : 0;
        var (work, domain) = (_work, Domain);
        Run(DomainOperationKind.Replace, [domainId], async (operation, ct) =>
        {
            await work.RetireAsync(domainId, ct);
            if (giveUp is not null)
            {
                throw new DomainSpawnException(giveUp);
            }

            var spawned = await work.SpawnAsync(domain, ct);
            return operation with { DomainIds = [domainId, spawned.DomainId], Spawned = ToView(spawned, agent: null) };
        });
    }

    private DomainOperation StartSpawnOperation()
    {
        var (work, domain) = (_work, Domain);
        return Run(DomainOperationKind.Spawn, [], async (operation, ct) =>
        {
            var instance = await work.SpawnAsync(domain, ct);
            return operation with { DomainIds = [instance.DomainId], Spawned = ToView(instance, agent: null) };
        });
    }

    /// <summary>What a finished operation changes: the scheduler learns of lost agents, new capacity, or that no domain could be had.</summary>
    private async Task ApplyAsync(DomainOperation finished)
    {
        if (finished.Kind is DomainOperationKind.Stop or DomainOperationKind.Cleanup)
        {
            foreach (var id in finished.DomainIds)
            {
                await Scheduler.AgentLost(id);
            }
        }

        if (finished.Kind == DomainOperationKind.Cleanup && state.State.StoppedByUser.Overlaps(finished.DomainIds))
        {
            state.State.StoppedByUser.ExceptWith(finished.DomainIds);
            await Writer.WriteAsync();
        }

        if (finished.Spawned is { } spawned)
        {
            LogSpawned(spawned.DomainId, Domain);
            OrchestratorMetrics.DomainSpawned(Domain);
        }

        if (finished.State == DomainOperationState.Failed)
        {
            LogOperationFailed(finished.Kind, Domain, finished.Error);
        }

        var views = await ViewsAsync();
        await PublishCapacityAsync(views);
        if (finished is { State: DomainOperationState.Failed, Kind: DomainOperationKind.Spawn or DomainOperationKind.Replace }
            && !_operations.Starting && !views.Any(Usable))
        {
            await Scheduler.DomainUnavailable(finished.Error!);
        }
    }

    /// <summary>
    /// An agent registered under an incarnation not reported yet (a restart under the same id, or the first look after
    /// this grain's activation) is reported once. The subtasks compare it with the incarnation they recorded, so this
    /// memory only spares repeated reports: losing it (a silo restart) costs one more report, which leaves an attempt
    /// its agent still runs alone.
    /// </summary>
    private async Task ReportRestartsAsync(IReadOnlyCollection<AgentInfo> agents)
    {
        foreach (var gone in _reportedIncarnations.Keys.Except(agents.Select(a => a.AgentId)).ToArray())
        {
            _reportedIncarnations.Remove(gone);
        }

        foreach (var (agentId, incarnation) in agents.Where(a => a.Incarnation is not null).Select(a => (a.AgentId, a.Incarnation!)))
        {
            if (_reportedIncarnations.GetValueOrDefault(agentId) != incarnation)
            {
                await Scheduler.AgentRestarted(agentId, incarnation);
                _reportedIncarnations[agentId] = incarnation; // after the call: a failed report is made again at the next check
            }
        }
    }

    private void EnsureRoomForClientOperation()
    {
        if (_operations.Running >= MaxClientOperations)
        {
            throw new TaskConflictException($"{MaxClientOperations} operations on {Domain} domains are under way; wait for them (`orchestrator domains`) and try again.");
        }
    }

    /// <summary>Starts runtime work off this grain's turn; the work must not touch this grain's state. Its outcome comes back as a call.</summary>
    private DomainOperation Run(DomainOperationKind kind, IReadOnlyList<string> domainIds, Func<DomainOperation, CancellationToken, Task<DomainOperation>> work) =>
        _operations.Start(kind, domainIds, options.Value.DomainOperationTimeout, work, this.AsReference<IDomainPoolGrain>().OnOperationFinished);

    /// <summary>
    /// The runtime's instances of this domain, within <see cref="OrchestratorOptions.RuntimeListTimeout"/>: listing runs
    /// in the pool's turn, so a hung engine would otherwise hold every call to the pool, and the domain's work with it.
    /// </summary>
    private async Task<IReadOnlyList<DomainInstance>> InstancesAsync()
    {
        var timeout = options.Value.RuntimeListTimeout;
        using var deadline = new CancellationTokenSource(timeout, time);
        try
        {
            return await runtime.ListAsync(Domain, deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new DomainOperationException(
                $"The domain runtime did not list the {Domain} instances within {timeout.TotalSeconds:0.#} s (Orchestrator:RuntimeListTimeout). "
                + "Check that the Docker engine answers (`docker ps`); the pool tries again at its next health check.");
        }
    }

    private static bool Usable(DomainView view) => view.Healthy || view is { Managed: true, Status: DomainStatus.Starting };

    private async Task<Dictionary<string, AgentInfo>> AgentsAsync() =>
        (await directory.ListAsync())
            .Where(a => a.Role != AgentRoles.Main && string.Equals(a.DomainType, Domain, StringComparison.OrdinalIgnoreCase))
            .ToDictionary(a => a.AgentId, StringComparer.Ordinal);

    private async Task<IReadOnlyList<DomainView>> ViewsAsync()
    {
        var instances = await InstancesAsync();
        var agents = await AgentsAsync();
        var views = instances.Select(i => ToView(i, agents.GetValueOrDefault(i.DomainId))).ToList();
        var managed = instances.Select(i => i.DomainId).ToHashSet();
        views.AddRange(agents.Values.Where(a => !managed.Contains(a.AgentId)).Select(a => new DomainView
        {
            DomainId = a.AgentId,
            DomainType = Domain,
            Status = a.Healthy ? DomainStatus.Running : DomainStatus.Unhealthy,
            Healthy = a.Healthy && a.Status != "stopping",
            Managed = false,
            CreatedAt = a.CreatedAt,
            Concurrency = a.Concurrency,
            Detail = $"registered agent ({a.Status})",
        }));
        return views;
    }

    private static DomainView ToView(DomainInstance instance, AgentInfo? agent)
    {
        var status = instance.State switch
        {
            DomainInstanceState.Exited => DomainStatus.Stopped,
            DomainInstanceState.Unhealthy => DomainStatus.Unhealthy,
            _ when agent is null => DomainStatus.Starting,
            _ when !agent.Healthy => DomainStatus.Unhealthy,
            DomainInstanceState.Starting => DomainStatus.Starting,
            _ => DomainStatus.Running,
        };
        return new DomainView
        {
            DomainId = instance.DomainId,
            DomainType = instance.DomainType,
            Status = status,
            Healthy = status == DomainStatus.Running && agent is { Healthy: true } && agent.Status != "stopping",
            Managed = true,
            CreatedAt = instance.CreatedAt,
            Concurrency = instance.Concurrency,
            Detail = instance.Detail,
        };
    }

    /// <summary>Tells the scheduler how many tasks the domain's workers can take: healthy ones plus those still starting.</summary>
    private async Task PublishCapacityAsync(IReadOnlyList<DomainView>? views)
    {
        var capacity = (views ?? await ViewsAsync()).Where(Usable).Sum(v => v.Concurrency);
        if (capacity != _lastCapacity)
        {
            _lastCapacity = capacity;
            await Scheduler.SetCapacity(capacity);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Spawned domain {DomainId} for {Domain}")]
    private partial void LogSpawned(string domainId, string domain);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replacing domain {DomainId} of {Domain}: {Reason}")]
    private partial void LogReplacing(string domainId, string domain, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registered agent {AgentId} of {Domain} stopped heart-beating; its in-flight work runs again")]
    private partial void LogExternalLost(string agentId, string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "The {Kind} of a {Domain} domain failed: {Error}")]
    private partial void LogOperationFailed(DomainOperationKind kind, string domain, string? error);
}
