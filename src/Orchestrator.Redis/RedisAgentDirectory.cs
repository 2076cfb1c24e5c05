using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// The reference's agent registry: <c>agents:all</c>, <c>agents:main</c>, <c>agents:domains[:type]</c>,
/// <c>agents:workers</c>, <c>agents:info:{id}</c> and <c>agents:heartbeat:{id}</c> with its TTL. An agent is healthy
/// while its heartbeat key exists, as in the reference. We add <c>concurrency</c> and <c>incarnation</c> to the info hash.
/// </summary>
public sealed class RedisAgentDirectory(IConnectionMultiplexer redis, TimeProvider time, TimeSpan heartbeatTtl) : IAgentDirectory
{
    // Refreshes only a registered agent, so that a deregistered one learns it must register again.
    private const string HeartbeatScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[1])
        redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    private long TtlMilliseconds => (long)heartbeatTtl.TotalMilliseconds;

    public async Task RegisterAsync(AgentInfo agent, CancellationToken cancellationToken = default)
    {
        var now = WireFormat.Timestamp(time.GetUtcNow());
        var transaction = Db.CreateTransaction();
        _ = transaction.SetAddAsync(RedisKeys.AllAgents, agent.AgentId);
        switch (agent.Role)
        {
            case AgentRoles.Main:
                _ = transaction.StringSetAsync(RedisKeys.MainAgent, agent.AgentId);
                break;
            case AgentRoles.Domain:
                _ = transaction.SetAddAsync(RedisKeys.DomainAgents, agent.AgentId);
                _ = transaction.SetAddAsync(RedisKeys.DomainAgentsOf(agent.DomainType ?? ""), agent.AgentId);
                break;
            case AgentRoles.Worker:
                _ = transaction.SetAddAsync(RedisKeys.WorkerAgents, agent.AgentId);
                break;
        }

        _ = transaction.HashSetAsync(RedisKeys.AgentInfo(agent.AgentId),
        [
            new("agent_id", agent.AgentId),
            new("role", agent.Role),
            new("domain_type", agent.DomainType ?? ""),
            new("status", agent.Status),
            new("container_id", agent.ContainerId ?? ""),
            new("created_at", now),
            new("last_heartbeat", now),
            new("concurrency", agent.Concurrency),
            // Always written, so that a registration without one never inherits the incarnation of an earlier start.
            new("incarnation", agent.Incarnation ?? ""),
        ]);
        _ = transaction.StringSetAsync(RedisKeys.Heartbeat(agent.AgentId), now, heartbeatTtl);
        await transaction.ExecuteAsync().ConfigureAwait(false);
    }

    public async Task<bool> HeartbeatAsync(string agentId, CancellationToken cancellationToken = default)
    {
        var refreshed = await Db.ScriptEvaluateAsync(HeartbeatScript,
            [RedisKeys.AgentInfo(agentId), RedisKeys.Heartbeat(agentId)],
            [WireFormat.Timestamp(time.GetUtcNow()), TtlMilliseconds]).ConfigureAwait(false);
        return (long)refreshed == 1;
    }

    public async Task SetStatusAsync(string agentId, string status, CancellationToken cancellationToken = default)
    {
        // Atomic, so that a status set while the agent deregisters cannot bring back a half record.
        await Db.ScriptEvaluateAsync("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end return 1",
            [RedisKeys.AgentInfo(agentId)], [status]).ConfigureAwait(false);
    }

    public async Task DeregisterAsync(string agentId, CancellationToken cancellationToken = default)
    {
        var domainType = await Db.HashGetAsync(RedisKeys.AgentInfo(agentId), "domain_type").ConfigureAwait(false);
        var transaction = Db.CreateTransaction();
        _ = transaction.SetRemoveAsync(RedisKeys.AllAgents, agentId);
        _ = transaction.SetRemoveAsync(RedisKeys.DomainAgents, agentId);
        _ = transaction.SetRemoveAsync(RedisKeys.WorkerAgents, agentId);
        if (!domainType.IsNullOrEmpty)
        {
            _ = transaction.SetRemoveAsync(RedisKeys.DomainAgentsOf(domainType.ToString()), agentId);
        }

        _ = transaction.KeyDeleteAsync([RedisKeys.AgentInfo(agentId), RedisKeys.Heartbeat(agentId)]);
        await transaction.ExecuteAsync().ConfigureAwait(false);
        // agents:main is cleared only if it still names this agent.
        await Db.ScriptEvaluateAsync("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1",
            [RedisKeys.MainAgent], [agentId]).ConfigureAwait(false);
    }

    public async Task<AgentInfo?> GetAsync(string agentId, CancellationToken cancellationToken = default)
    {
        var (hash, alive) = await ReadAsync(agentId).ConfigureAwait(false);
        return ToAgent(agentId, hash, alive);
    }

    public async Task<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var ids = await Db.SetMembersAsync(RedisKeys.AllAgents).ConfigureAwait(false);
        var reads = ids.Select(id => ReadAsync(id.ToString())).ToArray();
        var agents = new List<AgentInfo>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            var (hash, alive) = await reads[i].ConfigureAwait(false);
            if (ToAgent(ids[i].ToString(), hash, alive) is { } agent)
            {
                agents.Add(agent);
            }
        }

        return agents.OrderBy(a => a.AgentId, StringComparer.Ordinal).ToArray();
    }

    private async Task<(HashEntry[] Hash, bool Alive)> ReadAsync(string agentId)
    {
        var hash = Db.HashGetAllAsync(RedisKeys.AgentInfo(agentId));
        var alive = Db.KeyExistsAsync(RedisKeys.Heartbeat(agentId));
        return (await hash.ConfigureAwait(false), await alive.ConfigureAwait(false));
    }

    private static AgentInfo? ToAgent(string agentId, HashEntry[] hash, bool alive)
    {
        if (hash.Length == 0)
        {
            return null;
        }

        var fields = hash.ToDictionary(h => h.Name.ToString(), h => h.Value.ToString(), StringComparer.Ordinal);
        return new AgentInfo
        {
            AgentId = agentId,
            Role = fields.GetValueOrDefault("role") is { Length: > 0 } role ? role : AgentRoles.Domain,
            DomainType = fields.GetValueOrDefault("domain_type") is { Length: > 0 } type ? type : null,
            Status = fields.GetValueOrDefault("status") is { Length: > 0 } status ? status : "active",
            ContainerId = fields.GetValueOrDefault("container_id") is { Length: > 0 } container ? container : null,
            CreatedAt = WireFormat.ParseTimestamp(fields.GetValueOrDefault("created_at")) ?? DateTimeOffset.MinValue,
            LastHeartbeat = WireFormat.ParseTimestamp(fields.GetValueOrDefault("last_heartbeat")),
            Healthy = alive,
            Concurrency = int.TryParse(fields.GetValueOrDefault("concurrency"), out var concurrency) && concurrency > 0 ? concurrency : 1,
            Incarnation = fields.GetValueOrDefault("incarnation") is { Length: > 0 } incarnation ? incarnation : null,
        };
    }
}
