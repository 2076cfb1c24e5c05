using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Transport;
using Orchestrator.Docker;
using Orchestrator.Grains;
using Orchestrator.Grains.Security;
using Orchestrator.Grains.Webhooks;
using Orchestrator.Hosting.Runtime;
using Orchestrator.Hosting.Security;
using Orchestrator.Redis;
using Orleans.Configuration;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace Orchestrator.Hosting;

public static class OrchestratorSiloExtensions
{
    /// <summary>
    /// Everything a silo needs to be an orchestrator: grain storage and reminders, routing, the transport to
    /// domain workers, and the domain runtime. With <c>Redis:ConnectionString</c> set, storage, reminders and the
    /// transport are on Redis (the reference wire protocol); without it, the embedded in-memory defaults.
    /// Cluster membership is the host's choice (see <see cref="OrchestratorSiloHost"/>).
    /// </summary>
    public static ISiloBuilder AddOrchestrator(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (configuration[RedisConnection.SettingKey] is { Length: > 0 } redis)
        {
            var options = RedisConnection.Parse(redis);
            silo.AddRedisGrainStorage(StorageNames.Orchestrator, builder => builder.Configure<Serializer, IConnectionMultiplexer, IOptions<ClusterOptions>>((o, serializer, shared, cluster) =>
            {
                o.ConfigurationOptions = options.Clone();
                o.CreateMultiplexer = _ => Task.FromResult((shared, true));
                o.GrainStorageSerializer = StateSerializer(serializer);
                // Orleans' own layout, named here so that retention expires exactly the keys the storage writes.
                var serviceId = cluster.Value.ServiceId;
                o.GetStorageKey = (stateName, grainId) => GrainStateKeys.For(serviceId, grainId, stateName);
                // A pruned task's state is gone from Redis, not left as an empty record.
                o.DeleteStateOnClear = true;
            }));
            silo.UseRedisReminderService(o => o.ConfigurationOptions = options.Clone());
            silo.Services.AddOptions<RedisReminderTableOptions>().Configure<IConnectionMultiplexer>((o, shared) => o.CreateMultiplexer = _ => Task.FromResult((shared, true)));
            silo.Services.AddRedisTransport(options);
        }
        else
        {
            silo.AddMemoryGrainStorage(StorageNames.Orchestrator, builder => builder.Configure<Serializer>((o, serializer) =>
                o.GrainStorageSerializer = StateSerializer(serializer)));
            silo.UseInMemoryReminderService();
            silo.Services.AddInMemoryTransport();
        }

        silo.Services.AddOrchestratorServices(configuration);
        silo.AddStartupTask<OrchestratorStartup>();
        return silo;
    }

    /// <summary>
    /// Grain state in Orleans' own binary format, for every storage: version-tolerant through the [Id] of each state
    /// member, and far cheaper per write than the default JSON serializer (a third of the embedded run's CPU time).
    /// </summary>
    private static OrleansGrainStorageSerializer StateSerializer(Serializer serializer) => new(serializer);

    /// <summary>Options, routing, validation, the grains' event sink, the domain runtime and the contracts' copiers.</summary>
    private static IServiceCollection AddOrchestratorServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddContractCopiers();
        services.AddOptions<OrchestratorOptions>().Bind(configuration.GetSection(OrchestratorOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OrchestratorOptions>, OrchestratorOptionsValidator>();
        services.AddOptions<DomainsOptions>().Bind(configuration.GetSection(DomainsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DomainsOptions>, DomainsOptionsValidator>();
        services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddSingleton<WebhookSecret>();
        services.AddSingleton<WebhookGuard>();
        services.AddSingleton<WebhookSender>();
        services.AddTaskRouting(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddKeyedSingleton<TimeProvider>(TaskClock.Key, (sp, _) => sp.GetRequiredService<TimeProvider>());
        services.AddSingleton<ITaskEventSink, GrainTaskEventSink>();
        services.AddOptions<ControlPlaneOptions>().Bind(configuration.GetSection(ControlPlaneOptions.SectionName));
        services.AddSingleton<IClusterKey, ClusterKeyProvider>();
        services.AddSingleton<ControlPlaneCallFilter>();
        services.AddSingleton<IIncomingGrainCallFilter>(sp => sp.GetRequiredService<ControlPlaneCallFilter>());
        services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<ControlPlaneCallFilter>());
        services.AddSingleton<IWorkspaceRevision>(sp => new GitWorkspaceRevision(sp.GetRequiredService<IOptions<DomainsOptions>>().Value.WorkspacePath));

        var runtime = configuration.GetSection(DomainsOptions.SectionName)["Runtime"] ?? "embedded";
        switch (runtime.ToLowerInvariant())
        {
            case "embedded":
                services.AddSingleton<IDomainRuntime, EmbeddedDomainRuntime>();
                break;
            case "docker":
                services.AddDockerRuntime(configuration);
                break;
            default:
                throw new InvalidOperationException($"Domains:Runtime '{runtime}' is not known; use 'embedded' or 'docker'.");
        }

        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, PortsInUseCheck>();
        return services;
    }

    /// <summary>Domains as containers. Their workers reach the network through Redis, so Redis is required.</summary>
    private static void AddDockerRuntime(this IServiceCollection services, IConfiguration configuration)
    {
        var redis = configuration[RedisConnection.SettingKey] is { Length: > 0 } setting
            ? setting
            : throw new InvalidOperationException("Domains:Runtime 'docker' needs Redis:ConnectionString: domain containers reach the orchestrator through Redis.");
        var docker = configuration.GetSection(DockerRuntimeOptions.SectionName).Get<DockerRuntimeOptions>() ?? new DockerRuntimeOptions();
        services.AddSingleton(sp =>
        {
            var domains = sp.GetRequiredService<IOptions<DomainsOptions>>().Value;
            return new DockerDomainRuntime(
                docker,
                domains.WorkspacePath,
                RedisConnection.ToUrl(redis),
                type =>
                {
                    var agent = domains.AgentFor(type);
                    return new DomainWorkerSettings(agent.Command, Math.Max(1, agent.Concurrency), agent.ShutdownGrace, agent.StallTimeout,
                        agent.UsageFormat, agent.Prices is null ? null : PriceTable.ToJson(agent.CheckedPrices()),
                        new WorkerRunSettings(
                            agent.Merge.ToString().ToLowerInvariant(),
                            (int)Math.Ceiling(agent.KeepMergedBranches.TotalDays), // the worker keeps whole days
                            agent.MaxLineBytes,
                            agent.MaxLogBytes,
                            domains.PassedEnvironmentFor(type),
                            agent.IgnorePatterns));
                },
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<DockerDomainRuntime>>());
        });
        services.AddSingleton<IDomainRuntime>(sp => sp.GetRequiredService<DockerDomainRuntime>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DockerRuntimeStartup>();
    }

    private static void AddInMemoryTransport(this IServiceCollection services)
    {
        services.AddSingleton(sp => new InMemoryNetwork(
            sp.GetRequiredService<ITaskEventSink>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.HeartbeatTtl));
        services.AddSingleton<ITaskTransport>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<ITaskRetention>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<IWorkerTransport>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<IAgentDirectory>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<IDomainQueueStore, InMemoryDomainQueueStore>();
    }

    /// <summary>
    /// The reference protocol on Redis, for the grains and for the embedded runtime's workers alike. Its multiplexer is
    /// the silo's one Redis connection: grain storage, reminders and membership share it (as Orleans' providers allow).
    /// </summary>
    private static void AddRedisTransport(this IServiceCollection services, ConfigurationOptions options)
    {
        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(options.Clone()));
        services.AddSingleton<RedisTaskTransport>();
        services.AddSingleton<ITaskTransport>(sp => sp.GetRequiredService<RedisTaskTransport>());
        services.AddSingleton<IWorkerTransport, RedisWorkerTransport>();
        services.AddSingleton<ITaskRetention>(sp =>
        {
            var serviceId = sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;
            return new RedisTaskRetention(sp.GetRequiredService<IConnectionMultiplexer>(), state => GrainStateKeys.For(serviceId, state.GrainId, state.StateName));
        });
        services.AddSingleton<IDomainQueueStore>(sp => new RedisDomainQueueStore(
            sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        services.AddSingleton<IAgentDirectory>(sp => new RedisAgentDirectory(
            sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.HeartbeatTtl));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, RedisTransportStartup>();
    }
}

/// <summary>Checks the Docker engine before the silo takes work: an unreachable engine stops the start with its address.</summary>
internal sealed class DockerRuntimeStartup(DockerDomainRuntime runtime) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(DockerRuntimeStartup), ServiceLifecycleStage.ApplicationServices, runtime.CheckReachableAsync);
}

/// <summary>Subscribes to the result channels just before the silo takes work, and unsubscribes when it stops.</summary>
internal sealed class RedisTransportStartup(RedisTaskTransport transport) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(RedisTransportStartup), ServiceLifecycleStage.BecomeActive,
            transport.StartAsync,
            async _ => await transport.DisposeAsync());
}

/// <summary>Refuses a silo start with settings that cannot work, naming the setting.</summary>
internal sealed class OrchestratorOptionsValidator : IValidateOptions<OrchestratorOptions>
{
    public ValidateOptionsResult Validate(string? name, OrchestratorOptions options) =>
        (options.Retention.Validate() ?? options.Budget.Validate() ?? ValidateInstanceCap(options.MaxInstancesPerDomain)) is { } error
            ? ValidateOptionsResult.Fail(error)
            : ValidateOptionsResult.Success;

    private static string? ValidateInstanceCap(int cap) =>
        cap >= 1 ? null : $"Orchestrator:MaxInstancesPerDomain is {cap}; it must be at least 1 (a domain with no instance can run nothing).";
}

/// <summary>
/// Refuses a silo start that would hand agents one of the orchestrator's own settings: a pass-through name that is one
/// of them in the environment's form (<c>Redis__ConnectionString</c>, <c>Web__ApiKey</c>, <c>Webhooks__Secret</c>, …)
/// or a worker's Redis address. Agents are untrusted; such a name is a mistake whose cost is a leaked password.
/// </summary>
internal sealed class DomainsOptionsValidator : IValidateOptions<DomainsOptions>
{
    // "Redis" is the section of RedisConnection.SettingKey; "Web" is the web side's, which this project does not reference.
    private static readonly string[] OwnSections =
        ["Redis", "Web", WebhookOptions.SectionName, Orchestrator.Client.ClusterConnectionOptions.SectionName, OrchestratorOptions.SectionName, DomainsOptions.SectionName];

    private static readonly string[] OwnVariables = ["REDIS_URL"];

    public ValidateOptionsResult Validate(string? name, DomainsOptions options)
    {
        IEnumerable<(string Setting, List<string>? Names)> lists =
            [("Domains:Agent:PassEnvironment", options.Agent.PassEnvironment), .. options.Types.Select(t => ($"Domains:Types:{t.Key}:PassEnvironment", t.Value.PassEnvironment))];
        foreach (var (setting, names) in lists)
        {
            if (names?.FirstOrDefault(IsOwn) is { } own)
            {
                return ValidateOptionsResult.Fail(
                    $"{setting} names {own.Trim()}, a setting of the orchestrator itself (a password or key may be in it); agents never get those. Remove it from the list.");
            }
        }

        return ValidateOptionsResult.Success;
    }

    private static bool IsOwn(string variable)
    {
        var trimmed = variable.Trim();
        var separator = trimmed.IndexOf("__", StringComparison.Ordinal);
        return OwnVariables.Contains(trimmed, StringComparer.OrdinalIgnoreCase)
            || (separator > 0 && OwnSections.Contains(trimmed[..separator], StringComparer.OrdinalIgnoreCase));
    }
}
