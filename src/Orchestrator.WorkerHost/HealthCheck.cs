using Orchestrator.Redis;
using StackExchange.Redis;

namespace Orchestrator.WorkerHost;

/// <summary>The container health check: Redis answers, the agent is registered and not stopping, and its heartbeat key exists.</summary>
public static class HealthCheck
{
    public static async Task<int> RunAsync(WorkerSettings settings)
    {
        var problem = await ProblemAsync(settings);
        if (problem is null)
        {
            Console.WriteLine($"healthy: {settings.AgentId}");
            return 0;
        }

        Console.Error.WriteLine($"unhealthy: {problem}");
        return 1;
    }

    private static async Task<string?> ProblemAsync(WorkerSettings settings)
    {
        var options = RedisConnection.Parse(settings.RedisUrl);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 3000;
        options.ConnectRetry = 1;
        IConnectionMultiplexer redis;
        try
        {
            redis = await ConnectionMultiplexer.ConnectAsync(options);
        }
        catch (RedisConnectionException e)
        {
            return $"Redis at {RedisConnection.Redacted(settings.RedisUrl)} does not answer ({e.Message})";
        }

        await using (redis)
        {
            var db = redis.GetDatabase();
            var status = await db.HashGetAsync(RedisKeys.AgentInfo(settings.AgentId), "status");
            if (status.IsNull)
            {
                return $"{settings.AgentId} is not registered";
            }

            if (status == "stopping")
            {
                return $"{settings.AgentId} is stopping";
            }

            return await db.KeyExistsAsync(RedisKeys.Heartbeat(settings.AgentId)) ? null : $"the heartbeat of {settings.AgentId} has expired";
        }
    }
}
