using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Transport;

namespace Orchestrator.Grains.Domains;

/// <summary>
/// The runtime work behind a pool's operations: slow (a spawn waits for its container, a stop for running tasks), so
/// it runs on the thread pool, never in the pool grain's turn, and touches no grain state.
/// </summary>
internal sealed partial class DomainPoolWork(IDomainRuntime runtime, IAgentDirectory directory, ILogger logger)
{
    /// <summary>The seed's spawn: on failure, clean up stopped instances and try once more.</summary>
    public async Task<DomainInstance> SpawnAsync(string domain, CancellationToken cancellationToken)
    {
        try
        {
            return await runtime.SpawnAsync(domain, cancellationToken);
        }
        catch (Exception first) when (!cancellationToken.IsCancellationRequested)
        {
            LogSpawnRetry(first, domain);
            await RemoveAsync((await runtime.ListAsync(domain, cancellationToken)).Where(i => i.State == DomainInstanceState.Exited).Select(i => i.DomainId).ToArray(), stop: false, cancellationToken);
            try
            {
                return await runtime.SpawnAsync(domain, cancellationToken);
            }
            catch (Exception second) when (!cancellationToken.IsCancellationRequested)
            {
                throw new DomainSpawnException($"Could not spawn a {domain} domain: {second.Message}");
            }
        }
    }

    public Task StopAsync(string domainId, CancellationToken cancellationToken) => runtime.StopAsync(domainId, cancellationToken);

    /// <summary>Removes the instances all at once (each stop may wait out its worker's grace), with <paramref name="stop"/> stopping them first.</summary>
    public Task RemoveAsync(IReadOnlyList<string> domainIds, bool stop, CancellationToken cancellationToken) =>
        Task.WhenAll(domainIds.Select(async id =>
        {
            if (stop)
            {
                await runtime.StopAsync(id, cancellationToken);
            }

            await runtime.RemoveAsync(id, cancellationToken);
        }));

    /// <summary>Takes a dead or unhealthy instance out of the network: stopped, removed, deregistered.</summary>
    public async Task RetireAsync(string domainId, CancellationToken cancellationToken)
    {
        await RemoveAsync([domainId], stop: true, cancellationToken);
        await directory.DeregisterAsync(domainId, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Spawning a {Domain} domain failed; cleaning up stopped domains and trying once more")]
    private partial void LogSpawnRetry(Exception e, string domain);
}
