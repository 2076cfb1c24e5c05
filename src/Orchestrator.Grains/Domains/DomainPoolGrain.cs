using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Transport;
using Orchestrator.Grains.Persistence;

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
/// </summary>
public sealed partial class DomainPoolGrain(
    [PersistentState("pool", StorageNames.Orchestrator)] IPersistentState<DomainPoolState> state,
    IDomainRuntime runtime,
    IAgentDirectory directory,
    IOptions<OrchestratorOptions> options,
    TimeProvider time,
    ILogger<DomainPoolGrain> logger) : StoredStateGrain<DomainPoolState>, IDomainPoolGrain, IRemindable
{
    protected override IPersistentState<DomainPoolState> StoredState => state;

    private const string HealthReminder = "health";

    private readonly HashSet<string> _reportedLost = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _reportedIncarnations = new(StringComparer.Ordinal);
    private int _lastCapacity = -1;

    private string Domain => this.GetPrimaryKeyString();

    private IDomainSchedulerGrain Scheduler => GrainFactory.GetGrain<IDomainSchedulerGrain>(Domain);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(_ => CheckHealth(), new GrainTimerCreationOptions(options.Value.HealthCheckInterval, options.Value.HealthCheckInterval));
        await this.RegisterOrUpdateReminder(HealthReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        // Instances that outlived a silo restart are found through the runtime and the registry: adopted, not duplicated.
        await PublishCapacityAsync(await ViewsAsync());
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => CheckHealth();

    public async Task<DomainView> EnsureHealthy()
    {
        var views = await ViewsAsync();
        var usable = views.FirstOrDefault(v => v.Healthy) ?? views.FirstOrDefault(v => v is { Managed: true, Status: DomainStatus.Starting });
        return usable ?? await Spawn();
    }

    public async Task<DomainView> Spawn()
    {
        DomainInstance instance;
        try
        {
            instance = await runtime.SpawnAsync(Domain);
        }
        catch (Exception first) when (first is not OperationCanceledException)
        {
            // The seed's recovery: clean up stopped instances and try once more.
            LogSpawnRetry(first, Domain);
            await CleanupStopped();
            try
            {
                instance = await runtime.SpawnAsync(Domain);
            }
            catch (Exception second) when (second is not OperationCanceledException)
            {
                throw new DomainSpawnException($"Could not spawn a {Domain} domain: {second.Message}");
            }
        }

        LogSpawned(instance.DomainId, Domain);
        OrchestratorMetrics.DomainSpawned(Domain);
        await PublishCapacityAsync(await ViewsAsync());
        return ToView(instance, agent: null);
    }

    public async Task<IReadOnlyList<DomainView>> List() => await ViewsAsync();

    public async Task<bool> Stop(string domainId)
    {
        var instances = await runtime.ListAsync(Domain);
        if (instances.All(i => i.DomainId != domainId))
        {
            return false;
        }

        state.State.StoppedByUser.Add(domainId);
        await Writer.WriteAsync();
        await runtime.StopAsync(domainId);
        await Scheduler.AgentLost(domainId);
        await PublishCapacityAsync(await ViewsAsync());
        return true;
    }

    public async Task<IReadOnlyList<string>> CleanupStopped()
    {
        var stopped = (await runtime.ListAsync(Domain)).Where(i => i.State == DomainInstanceState.Exited).Select(i => i.DomainId).ToArray();
        foreach (var id in stopped)
        {
            await runtime.RemoveAsync(id);
            state.State.StoppedByUser.Remove(id);
        }

        await Writer.WriteAsync();
        return stopped;
    }

    public async Task<IReadOnlyList<string>> CleanupAll()
    {
        var all = (await runtime.ListAsync(Domain)).Select(i => i.DomainId).ToArray();
        foreach (var id in all)
        {
            await runtime.StopAsync(id);
            await runtime.RemoveAsync(id);
        }

        state.State.StoppedByUser.Clear();
        await Writer.WriteAsync();
        foreach (var id in all)
        {
            await Scheduler.AgentLost(id);
        }

        await PublishCapacityAsync(await ViewsAsync());
        return all;
    }

    public async Task CheckHealth()
    {
        var now = time.GetUtcNow();
        var instances = await runtime.ListAsync(Domain);
        var agents = await AgentsAsync();
        await ReportRestartsAsync(agents.Values);
        var replace = 0;
        foreach (var instance in instances.Where(i => !state.State.StoppedByUser.Contains(i.DomainId)))
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
            if (reason is null)
            {
                continue;
            }

            LogReplacing(instance.DomainId, Domain, reason);
            OrchestratorMetrics.DomainReplaced(Domain);
            await runtime.StopAsync(instance.DomainId);
            await runtime.RemoveAsync(instance.DomainId);
            await directory.DeregisterAsync(instance.DomainId);
            await Scheduler.AgentLost(instance.DomainId);
            replace++;
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

        for (var i = 0; i < replace; i++)
        {
            try
            {
                await Spawn();
            }
            catch (DomainSpawnException e)
            {
                LogReplaceFailed(e, Domain);
            }
        }

        await PublishCapacityAsync(await ViewsAsync());
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

    private async Task<Dictionary<string, AgentInfo>> AgentsAsync() =>
        (await directory.ListAsync())
            .Where(a => a.Role != AgentRoles.Main && string.Equals(a.DomainType, Domain, StringComparison.OrdinalIgnoreCase))
            .ToDictionary(a => a.AgentId, StringComparer.Ordinal);

    private async Task<IReadOnlyList<DomainView>> ViewsAsync()
    {
        var instances = await runtime.ListAsync(Domain);
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

    private DomainView ToView(DomainInstance instance, AgentInfo? agent)
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
    private async Task PublishCapacityAsync(IReadOnlyList<DomainView> views)
    {
        var capacity = views.Where(v => v.Healthy || v is { Managed: true, Status: DomainStatus.Starting }).Sum(v => v.Concurrency);
        if (capacity != _lastCapacity)
        {
            _lastCapacity = capacity;
            await Scheduler.SetCapacity(capacity);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Spawned domain {DomainId} for {Domain}")]
    private partial void LogSpawned(string domainId, string domain);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Spawning a {Domain} domain failed; cleaning up stopped domains and trying once more")]
    private partial void LogSpawnRetry(Exception e, string domain);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replacing domain {DomainId} of {Domain}: {Reason}")]
    private partial void LogReplacing(string domainId, string domain, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registered agent {AgentId} of {Domain} stopped heart-beating; its in-flight work runs again")]
    private partial void LogExternalLost(string agentId, string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not replace a {Domain} domain")]
    private partial void LogReplaceFailed(Exception e, string domain);
}
