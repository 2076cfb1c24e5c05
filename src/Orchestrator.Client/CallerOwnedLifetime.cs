using Microsoft.Extensions.Hosting;

namespace Orchestrator.Client;

/// <summary>
/// The lifetime of a host that lives inside another program (a connection, an embedded silo): started and stopped by
/// its owner only. The default console lifetime would take Ctrl+C and SIGTERM from the program around it, keep the
/// process alive and stop nothing that program waits for.
/// </summary>
public sealed class CallerOwnedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
