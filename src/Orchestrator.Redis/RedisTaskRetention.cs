using Orchestrator.Core.Transport;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// A task's retention on Redis: one atomic script sets (or lifts) the expiry of every key the task has —
/// <c>results:{id}:logs</c> of the task and each subtask, <c>results:{id}</c> of each subtask, and the grain states
/// (the task's, its webhook's when it has one, and each subtask's two: <c>…/subtask</c> and its diff, <c>…/diff</c>).
/// Redis then drops them itself; the cost does not grow with the number of tasks kept.
/// </summary>
public sealed class RedisTaskRetention(IConnectionMultiplexer redis, Func<StoredState, RedisKey> stateKey) : ITaskRetention
{
    private const string ExpireScript = """
        for _, key in ipairs(KEYS) do
          redis.call('PEXPIRE', key, ARGV[1])
        end
        return 1
        """;

    private const string PersistScript = """
        for _, key in ipairs(KEYS) do
          redis.call('PERSIST', key)
        end
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    public Task ExpireAsync(TaskRecords records, TimeSpan after, CancellationToken cancellationToken = default) =>
        Db.ScriptEvaluateAsync(ExpireScript, KeysOf(records), [(long)Math.Max(1, Math.Ceiling(after.TotalMilliseconds))]);

    public Task KeepAsync(TaskRecords records, CancellationToken cancellationToken = default) =>
        Db.ScriptEvaluateAsync(PersistScript, KeysOf(records));

    public Task DeleteAsync(TaskRecords records, CancellationToken cancellationToken = default) =>
        Db.KeyDeleteAsync(RecordKeys(records).ToArray());

    private RedisKey[] KeysOf(TaskRecords records) => RecordKeys(records).Concat(records.States.Select(stateKey)).ToArray();

    private static IEnumerable<RedisKey> RecordKeys(TaskRecords records) =>
        records.ResultIds.Select(id => (RedisKey)RedisKeys.Result(id)).Concat(records.LogIds.Select(id => (RedisKey)RedisKeys.Logs(id)));
}
