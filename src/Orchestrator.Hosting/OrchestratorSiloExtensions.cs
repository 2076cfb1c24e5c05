using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Transport;
using Orchestrator.Grains;
using Orchestrator.Hosting.Runtime;

namespace Orchestrator.Hosting;

public static class OrchestratorSiloExtensions
{
    /// <summary>
    /// Everything a silo needs to be an orchestrator: grain storage and reminders, routing, the transport to
    /// domain workers, and the domain runtime — the embedded defaults (in-memory) unless configured otherwise.
    /// </summary>
    public static ISiloBuilder AddOrchestrator(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.AddMemoryGrainStorage(StorageNames.Orchestrator);
        silo.UseInMemoryReminderService();
        silo.Services.AddOrchestratorServices(configuration);
        return silo;
    }

    /// <summary>Options, routing, validation and the embedded transport and runtime.</summary>
    public static IServiceCollection AddOrchestratorServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OrchestratorOptions>().Bind(configuration.GetSection(OrchestratorOptions.SectionName));
        services.AddOptions<DomainsOptions>().Bind(configuration.GetSection(DomainsOptions.SectionName));
        services.AddTaskRouting(configuration);
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton<ITaskEventSink, GrainTaskEventSink>();
        services.AddSingleton(sp => new InMemoryNetwork(
            sp.GetRequiredService<ITaskEventSink>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<OrchestratorOptions>>().Value.HeartbeatTtl));
        services.AddSingleton<ITaskTransport>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<IWorkerTransport>(sp => sp.GetRequiredService<InMemoryNetwork>());
        services.AddSingleton<IAgentDirectory>(sp => sp.GetRequiredService<InMemoryNetwork>());

        var runtime = configuration.GetSection(DomainsOptions.SectionName)["Runtime"] ?? "embedded";
        if (!string.Equals(runtime, "embedded", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Domains:Runtime '{runtime}' is not known; this build has 'embedded'.");
        }

        services.AddSingleton<IDomainRuntime, EmbeddedDomainRuntime>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, OrchestratorStartup>();
        return services;
    }
}
