using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Routing;

namespace Orchestrator.Hosting;

/// <summary>
/// When the silo is active: registers the main agent (its heartbeat then runs from the registry grain) and wakes
/// every domain pool and scheduler: pools adopt domains that outlived a restart and check health; schedulers resume.
/// </summary>
public sealed partial class OrchestratorStartup(IGrainFactory grains, TaskPlanner planner, ILogger<OrchestratorStartup> logger) : IStartupTask
{
    public async Task Execute(CancellationToken cancellationToken)
    {
        // Side by side: each is a grain activation with a storage read, and the one-command silo waits for all of them.
        await Task.WhenAll(planner.KnownDomains.Select(StartDomainAsync).Append(grains.Reference<IAgentRegistryGrain>(0).Start()));

        LogStarted(string.Join(", ", planner.KnownDomains));
    }

    private async Task StartDomainAsync(string domain)
    {
        await grains.Reference<IDomainPoolGrain>(domain).List();
        // A scheduler back from storage resumes its queue, reconciles in-flight work and watches deadlines again.
        await grains.Reference<IDomainSchedulerGrain>(domain).GetView();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Orchestrator started; domains: {Domains}")]
    private partial void LogStarted(string domains);
}
