using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// A worker's side of the reference protocol. A task moves atomically from <c>tasks:pending</c> to
/// <c>tasks:active</c> (RPOPLPUSH, the non-blocking form of the reference's BRPOPLPUSH: the multiplexer must not be
/// blocked), and the worker waits for the next one on the domain's <c>notifications</c> channel instead of on a
/// blocked connection, with the reference's 5 s wait as the bound when a producer does not notify.
/// </summary>
public sealed class RedisWorkerTransport(IConnectionMultiplexer redis) : IWorkerTransport, IAsyncDisposable
{
    // The result is written only while the message is still ours in the active list: a task the orchestrator
    // took back (timeout, lost agent, cancel) gets no late result from this run.
    // The last log lines first (best effort, as every log line: a log key of the wrong type fails no result); then, unless
    // the message was withdrawn meanwhile, the result and its notification (which wakes the task's watchers, so the
    // lines need no notification of their own).
    // KEYS: active list, result, log. ARGV: message, published result, logs channel, task id, n, n lines, result fields.
    private const string CompleteScript = """
        local n = tonumber(ARGV[5])
        if n > 0 then redis.pcall('RPUSH', KEYS[3], unpack(ARGV, 6, 5 + n)) end
        if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
          if n > 0 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
          return 0
        end
        redis.call('HSET', KEYS[2], unpack(ARGV, 6 + n))
        redis.call('PUBLISH', KEYS[2], ARGV[2])
        return 1
        """;

    private readonly ISubscriber _subscriber = redis.GetSubscriber();
    private readonly ConcurrentDictionary<string, Lazy<Task<TakerWakeup>>> _wakeups = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _held = new(StringComparer.Ordinal);
    private int _listeningForWithdrawals;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>How many taken tasks this transport still tracks for withdrawal (each is released when it ends or is taken back).</summary>
    public int HeldCount => _held.Count;

    public async Task<TaskLease?> TakeAsync(string domain, TimeSpan wait, CancellationToken cancellationToken)
    {
        await ListenForWithdrawalsAsync().ConfigureAwait(false);
        var wakeup = await _wakeups.GetOrAdd(domain, d => new Lazy<Task<TakerWakeup>>(() => TakerWakeup.SubscribeAsync(_subscriber, d))).Value.ConfigureAwait(false);
        var deadline = DateTime.UtcNow + wait;
        for (var first = true; ; first = false)
        {
            // Registered before looking, so a notification that arrives in between is not lost.
            var (waiter, mayFindWork) = wakeup.Register(arriving: first);
            if (!mayFindWork && deadline - DateTime.UtcNow is { } left && left > TimeSpan.Zero)
            {
                // Takers already wait here and no notification went unheard: a message queued since is announced to
                // them. Looking now would cost a round trip that finds nothing (each attempt's end came with one).
                await WaitAsync(wakeup, waiter, left, cancellationToken).ConfigureAwait(false);
                continue;
            }

            RedisValue raw;
            try
            {
                raw = await Db.ListRightPopLeftPushAsync(RedisKeys.Pending(domain), RedisKeys.Active(domain)).ConfigureAwait(false);
            }
            catch
            {
                wakeup.Unregister(waiter, passOnWakeup: true);
                throw;
            }

            var remaining = deadline - DateTime.UtcNow;
            if (!raw.IsNull || remaining <= TimeSpan.Zero)
            {
                wakeup.Unregister(waiter, passOnWakeup: true);
                return raw.IsNull ? null : Lease(domain, raw.ToString());
            }

            await WaitAsync(wakeup, waiter, remaining, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Until a notification wakes <paramref name="waiter"/> or <paramref name="remaining"/> has passed; then it looks again.</summary>
    private static async Task WaitAsync(TakerWakeup wakeup, LinkedListNode<TaskCompletionSource> waiter, TimeSpan remaining, CancellationToken cancellationToken)
    {
        try
        {
            await waiter.Value.Task.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
            wakeup.Unregister(waiter, passOnWakeup: true);
            throw;
        }

        wakeup.Unregister(waiter, passOnWakeup: false);
    }

    public async Task MarkStartedAsync(TaskLease lease, string agentId, string? incarnation, DateTimeOffset startedAt, string? leaseProof, CancellationToken cancellationToken)
    {
        if ((lease.TaskId ?? TaskIdOf(lease.RawMessage)) is not { } taskId)
        {
            return;
        }

        var started = WireFormat.Timestamp(startedAt);
        var notice = new JsonObject
        {
            ["task_id"] = taskId, ["agent_id"] = agentId, ["incarnation"] = incarnation, ["started_at"] = started, ["lease_proof"] = leaseProof,
        }.ToJsonString();
        await Task.WhenAll(
            Db.HashSetAsync(RedisKeys.Result(taskId), [new("task_id", taskId), new("status", ResultRecord.InProgress), new("started_at", started), new("agent_id", agentId)]),
            Db.PublishAsync(RedisChannel.Literal(RedisKeys.StartedChannel), notice)).ConfigureAwait(false);
    }

    public async Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        if (lines.Count == 0)
        {
            return;
        }

        await Task.WhenAll(
            Db.ListRightPushAsync(RedisKeys.Logs(taskId), lines.Select(l => (RedisValue)l).ToArray()),
            Db.PublishAsync(RedisChannel.Literal(RedisKeys.LogsChannel), taskId)).ConfigureAwait(false);
    }

    public async Task CompleteAsync(TaskLease lease, AgentResult result, IReadOnlyList<string> lastLogLines, CancellationToken cancellationToken)
    {
        var fields = ResultRecord.FinalFields(result);
        var args = new List<RedisValue>(5 + lastLogLines.Count + 2 * fields.Length)
        {
            lease.RawMessage, ResultRecord.ToPublishedJson(fields), RedisKeys.LogsChannel, result.TaskId, lastLogLines.Count,
        };
        args.AddRange(lastLogLines.Select(line => (RedisValue)line));
        foreach (var field in fields)
        {
            args.Add(field.Name);
            args.Add(field.Value);
        }

        try
        {
            await Db.ScriptEvaluateAsync(CompleteScript, [RedisKeys.Active(lease.Domain), RedisKeys.Result(result.TaskId), RedisKeys.Logs(result.TaskId)], args.ToArray()).ConfigureAwait(false);
        }
        finally
        {
            Release(result.TaskId);
        }
    }

    public async Task DiscardAsync(TaskLease lease, CancellationToken cancellationToken)
    {
        await Db.ListRemoveAsync(RedisKeys.Active(lease.Domain), lease.RawMessage, 1).ConfigureAwait(false);
        if ((lease.TaskId ?? TaskIdOf(lease.RawMessage)) is { } taskId)
        {
            Release(taskId);
        }
    }

    private TaskLease Lease(string domain, string raw)
    {
        if (TaskIdOf(raw) is not { } taskId)
        {
            return new TaskLease(domain, raw, CancellationToken.None);
        }

        var withdrawn = new CancellationTokenSource();
        _held[taskId] = withdrawn;
        return new TaskLease(domain, raw, withdrawn.Token, taskId);
    }

    private void Release(string taskId)
    {
        if (_held.TryRemove(taskId, out var withdrawn))
        {
            withdrawn.Dispose();
        }
    }

    private async Task ListenForWithdrawalsAsync()
    {
        if (Interlocked.Exchange(ref _listeningForWithdrawals, 1) == 0)
        {
            await _subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.WithdrawnChannel), (_, taskId) =>
            {
                // Taken back: the run stops and reports nothing, so nothing else would release it.
                if (_held.TryRemove(taskId.ToString(), out var withdrawn))
                {
                    withdrawn.Cancel();
                }
            }).ConfigureAwait(false);
        }
    }

    /// <summary>The task id of a message, or null when it has none that can be read.</summary>
    /// <remarks>
    /// Read in place (each message passes here as it is taken): the top level's <c>task_id</c> string; a message that
    /// is not one valid JSON object, or names <c>task_id</c> twice, has none.
    /// </remarks>
    public static string? TaskIdOf(string raw)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetByteCount(raw));
        try
        {
            var reader = new Utf8JsonReader(buffer.AsSpan(0, Encoding.UTF8.GetBytes(raw, buffer)));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            string? taskId = null;
            var seen = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isTaskId = reader.ValueTextEquals("task_id"u8);
                reader.Read();
                if (isTaskId)
                {
                    taskId = seen ? null : reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    seen = true;
                }

                reader.Skip();
            }

            return reader.TokenType == JsonTokenType.EndObject && !reader.Read() ? taskId : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null; // invalid JSON, or a string that is not valid text
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true); // the message carries its attempt's lease
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var domain in _wakeups.Keys)
        {
            await _subscriber.UnsubscribeAsync(RedisChannel.Literal(RedisKeys.Notifications(domain))).ConfigureAwait(false);
        }

        await _subscriber.UnsubscribeAsync(RedisChannel.Literal(RedisKeys.WithdrawnChannel)).ConfigureAwait(false);
    }
}
