using Orchestrator.Core.Domains;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// A domain scheduler's records in one Redis hash, <c>{ServiceId}/queue/{domain}</c> (field: subtask id, value:
/// <see cref="QueueRecord.Encode"/>), beside the Orleans state of the same service; its fence in
/// <c>{ServiceId}/queue/{domain}/fence</c>. A save is one script: check the fence, HSET the changed records, HDEL the
/// removed ones; <c>…/paused</c> exists while an operator holds the queue. No key is reachable by a worker's ACL user.
/// </summary>
public sealed class RedisDomainQueueStore(IConnectionMultiplexer redis, string serviceId) : IDomainQueueStore
{
    private const string SaveScript = """
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
        local records = tonumber(ARGV[2])
        if records > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * records)) end
        if #ARGV > 2 + 2 * records then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * records, #ARGV)) end
        return 1
        """;

    private const string PauseScript = """
        if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
        if ARGV[2] == '1' then redis.call('SET', KEYS[1], '1') else redis.call('DEL', KEYS[1]) end
        return 1
        """;

    /// <summary>Lua's unpack takes a few thousand arguments at most: larger saves go in parts, each fenced.</summary>
    private const int MaxChangesPerScript = 2000;

    private IDatabase Db => redis.GetDatabase();

    private RedisKey Records(string domain) => $"{serviceId}/queue/{domain}";

    private RedisKey Fence(string domain) => $"{serviceId}/queue/{domain}/fence";

    private RedisKey Paused(string domain) => $"{serviceId}/queue/{domain}/paused";

    public async Task<QueueSnapshot> OpenAsync(string domain, CancellationToken cancellationToken = default)
    {
        var fence = await Db.StringIncrementAsync(Fence(domain)).ConfigureAwait(false);
        var paused = await Db.KeyExistsAsync(Paused(domain)).ConfigureAwait(false);
        var records = new List<QueueRecord>();
        // Paged (HSCAN), so that a queue of a hundred thousand does not come back as one reply.
        await foreach (var entry in Db.HashScanAsync(Records(domain), pageSize: 1000).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            records.Add(QueueRecord.Decode(entry.Name!, entry.Value!));
        }

        return new QueueSnapshot(fence, records, paused);
    }

    public async Task SetPausedAsync(string domain, long fence, bool paused, CancellationToken cancellationToken = default)
    {
        if ((long)await Db.ScriptEvaluateAsync(PauseScript, [Paused(domain), Fence(domain)], [fence, paused ? "1" : "0"]).ConfigureAwait(false) == 0)
        {
            throw new QueueStoreFencedException(domain);
        }
    }

    public async Task SaveAsync(string domain, long fence, IReadOnlyCollection<QueueRecord> records, IReadOnlyCollection<string> removed, CancellationToken cancellationToken = default)
    {
        if (records.Count + removed.Count <= MaxChangesPerScript)
        {
            await SavePartAsync(domain, fence, records.ToArray(), removed.ToArray()).ConfigureAwait(false);
            return;
        }

        foreach (var part in records.Chunk(MaxChangesPerScript))
        {
            await SavePartAsync(domain, fence, part, []).ConfigureAwait(false);
        }

        foreach (var part in removed.Chunk(MaxChangesPerScript))
        {
            await SavePartAsync(domain, fence, [], part).ConfigureAwait(false);
        }
    }

    private async Task SavePartAsync(string domain, long fence, QueueRecord[] records, string[] removed)
    {
        if (records.Length == 0 && removed.Length == 0)
        {
            return;
        }

        var args = new RedisValue[2 + 2 * records.Length + removed.Length];
        args[0] = fence;
        args[1] = records.Length;
        var i = 2;
        foreach (var record in records)
        {
            args[i++] = record.SubtaskId;
            args[i++] = record.Encode();
        }

        foreach (var id in removed)
        {
            args[i++] = id;
        }

        if ((long)await Db.ScriptEvaluateAsync(SaveScript, [Records(domain), Fence(domain)], args).ConfigureAwait(false) == 0)
        {
            throw new QueueStoreFencedException(domain);
        }
    }
}
