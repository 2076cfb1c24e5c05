using Microsoft.Extensions.Hosting;
using Orchestrator.Worker;

namespace Orchestrator.WorkerHost;

/// <summary>Runs the domain worker loop for the life of the host; stopping the host (SIGTERM) stops it gracefully.</summary>
public sealed class WorkerService(DomainWorker worker) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => worker.RunAsync(stoppingToken);
}
