using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.Worker;

namespace Orchestrator.WorkerHost;

/// <summary>Runs the domain worker loop for the life of the host; stopping the host (SIGTERM) stops it gracefully.</summary>
public sealed partial class WorkerService(DomainWorker worker, WorkerSettings settings, ILogger<WorkerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var written = DomainTemplate.CopyInto(settings.AgentConfig, settings.Workspace);
        if (written.Count > 0)
        {
            LogTemplate(written.Count, settings.AgentConfig, string.Join(", ", written));
        }

        await worker.RunAsync(stoppingToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Copied {Count} domain template file(s) from {AgentConfig}: {Files}")]
    private partial void LogTemplate(int count, string agentConfig, string files);
}
