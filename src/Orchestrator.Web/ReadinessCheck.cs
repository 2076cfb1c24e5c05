using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orchestrator.Docker;
using Orleans.Runtime;
using StackExchange.Redis;

namespace Orchestrator.Web;

/// <summary>Ready = this silo is an active member of the cluster, Redis answers (when used), and the domain runtime is reachable.</summary>
public sealed class ReadinessCheck(IServiceProvider services, IClusterMembershipService membership, ILocalSiloDetails silo) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) != SiloStatus.Active)
        {
            return HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is not an active cluster member yet");
        }

        if (services.GetService<IConnectionMultiplexer>() is { } redis)
        {
            try
            {
                await redis.GetDatabase().PingAsync();
            }
            catch (RedisException e)
            {
                return HealthCheckResult.Unhealthy($"Redis does not answer: {e.Message}");
            }
        }

        if (services.GetService<DockerDomainRuntime>() is { } docker)
        {
            try
            {
                await docker.CheckReachableAsync(cancellationToken);
            }
            catch (DomainRuntimeUnavailableException e)
            {
                return HealthCheckResult.Unhealthy(e.Message);
            }
        }

        return HealthCheckResult.Healthy();
    }
}
