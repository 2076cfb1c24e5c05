using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using Polly;
using Polly.Retry;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// The orchestrator's side of the reference protocol: queues task messages the way the reference's producer
/// does, takes them back, reads results and logs, and listens on the result channels so that results reach the
/// grains without polling. A result whose notification was missed is still in its hash: see <see cref="GetResultAsync"/>.
/// </summary>
public sealed partial class RedisTaskTransport(IConnectionMultiplexer redis, ITaskEventSink sink, ILogger<RedisTaskTransport> logger)
    : ITaskTransport, IAsyncDisposable
{
    // One round trip, atomic: a fresh pending result, the log line, the message on the pending list, the notification.
    // The log key is one a runner writes too: should it hold something else than a list, the line is lost, not the task.
    private const string PublishScript = """
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'task_id', ARGV[1], 'status', 'pending')
        redis.pcall('RPUSH', KEYS[3], ARGV[4])
        redis.call('LPUSH', KEYS[2], ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[2])
        return 1
        """;

    // Removes every message of the task from the pending and active lists, whatever its JSON spacing, then tells
    // the workers of ours that may hold it.
    private const string WithdrawScript = """
        local removed = 0
        for _, key in ipairs(KEYS) do
          for _, item in ipairs(redis.call('LRANGE', key, 0, -1)) do
            local ok, message = pcall(cjson.decode, item)
            if ok and type(message) == 'table' and message['task_id'] == ARGV[1] then
              removed = removed + redis.call('LREM', key, 0, item)
            end
          end
        end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return removed
        """;

    private readonly ISubscriber _subscriber = redis.GetSubscriber();

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Subscribes to results, starts and log notifications. Call once before tasks are published.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _subscriber.SubscribeAsync(RedisChannel.Pattern(RedisKeys.ResultChannelPattern), (channel, message) => OnResultPublished(channel!, message!)).ConfigureAwait(false);
        await _subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.StartedChannel), (_, message) => OnStartedPublished(message!)).ConfigureAwait(false);
        await _subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.LogsChannel), (_, message) => Forward(() => sink.OnLogsAppendedAsync(message!), "logs", message!)).ConfigureAwait(false);
        redis.ConnectionRestored += OnConnectionRestored;
    }

    public async Task PublishAsync(TaskMessage message, string logLine, CancellationToken cancellationToken = default)
    {
        var json = message.ToJson();
        await Db.ScriptEvaluateAsync(PublishScript,
            [RedisKeys.Result(message.TaskId), RedisKeys.Pending(message.Destination), RedisKeys.Logs(message.TaskId)],
            [message.TaskId, json, RedisKeys.Notifications(message.Destination), logLine]).ConfigureAwait(false);
    }

    public async Task WithdrawAsync(string domain, string taskId, CancellationToken cancellationToken = default)
    {
        var removed = (long)await Db.ScriptEvaluateAsync(WithdrawScript,
            [RedisKeys.Pending(domain), RedisKeys.Active(domain)],
            [taskId, RedisKeys.WithdrawnChannel]).ConfigureAwait(false);
        LogWithdrawn(taskId, domain, removed);
    }

    public async Task<AgentResult?> GetResultAsync(string taskId, CancellationToken cancellationToken = default)
    {
        var key = RedisKeys.Result(taskId);
        var hash = await Db.HashGetAllAsync(key).ConfigureAwait(false);
        try
        {
            return ResultRecord.FromHash(taskId, hash);
        }
        catch (WireFormatException e)
        {
            LogBadResult(key, e.Message);
            return new AgentResult { TaskId = taskId, Succeeded = false, Error = $"Unreadable result in {key}: {e.Message}" };
        }
    }

    public async Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken = default)
    {
        if (lines.Count > 0)
        {
            await Db.ListRightPushAsync(RedisKeys.Logs(taskId), lines.Select(l => (RedisValue)l).ToArray()).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<string>> ReadLogsAsync(string taskId, long fromIndex, CancellationToken cancellationToken = default)
    {
        var lines = await Db.ListRangeAsync(RedisKeys.Logs(taskId), Math.Max(0, fromIndex), -1).ConfigureAwait(false);
        return lines.Select(l => l.ToString()).ToArray();
    }

    private void OnResultPublished(RedisChannel channel, RedisValue message)
    {
        var name = channel.ToString();
        var taskId = name["results:".Length..];
        AgentResult? result;
        try
        {
            result = ResultRecord.FromPublishedJson(taskId, message.ToString());
        }
        catch (WireFormatException e)
        {
            // The hash is the record; a garbled notification only means we read it from there.
            LogBadResult(name, e.Message);
            Forward(() => ReadAndForwardAsync(taskId), "result", taskId);
            return;
        }

        if (result is not null)
        {
            Forward(() => sink.OnResultAsync(result), "result", taskId);
        }
    }

    private async Task ReadAndForwardAsync(string taskId)
    {
        if (await GetResultAsync(taskId).ConfigureAwait(false) is { } result)
        {
            await sink.OnResultAsync(result).ConfigureAwait(false);
        }
    }

    private void OnStartedPublished(RedisValue message)
    {
        try
        {
            var json = JsonNode.Parse(message.ToString()) as JsonObject ?? throw new WireFormatException("not a JSON object");
            var taskId = (string?)json["task_id"] ?? throw new WireFormatException("'task_id' is missing");
            var agentId = (string?)json["agent_id"] ?? throw new WireFormatException("'agent_id' is missing");
            var startedAt = WireFormat.ParseTimestamp((string?)json["started_at"]) ?? DateTimeOffset.UtcNow;
            var proof = (string?)json["lease_proof"];
            var incarnation = (string?)json["incarnation"];
            Forward(() => sink.OnStartedAsync(taskId, agentId, startedAt, proof, incarnation), "started", taskId);
        }
        catch (Exception e) when (e is WireFormatException or System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            LogBadResult(RedisKeys.StartedChannel, e.Message);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            // Notifications published while the subscription was down are gone; the hashes still hold them.
            LogResubscribed();
            Forward(sink.OnNotificationsMayBeMissedAsync, "reconcile", "*");
        }
    }

    /// <summary>
    /// Hands a notification to the grains. A delivery that fails (a grain moving between silos, a silo leaving) is
    /// tried again a few times; after that the deadline's look into the results store still finds the result.
    /// </summary>
    private void Forward(Func<Task> deliver, string what, string taskId)
    {
        var first = deliver();
        if (!first.IsCompletedSuccessfully)
        {
            _ = DeliverAsync(first, deliver, what, taskId);
        }
    }

    private async Task DeliverAsync(Task first, Func<Task> deliver, string what, string taskId)
    {
        try
        {
            await first.ConfigureAwait(false);
            return;
        }
        catch (Exception e)
        {
            LogForwardFailed(e, what, taskId);
        }

        try
        {
            await DeliveryRetry.ExecuteAsync(async _ => await deliver().ConfigureAwait(false)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogForwardGaveUp(e, what, taskId);
        }
    }

    private static readonly ResiliencePipeline DeliveryRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 5,
            Delay = TimeSpan.FromSeconds(1),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();

    public async ValueTask DisposeAsync()
    {
        redis.ConnectionRestored -= OnConnectionRestored;
        await _subscriber.UnsubscribeAsync(RedisChannel.Pattern(RedisKeys.ResultChannelPattern)).ConfigureAwait(false);
        await _subscriber.UnsubscribeAsync(RedisChannel.Literal(RedisKeys.StartedChannel)).ConfigureAwait(false);
        await _subscriber.UnsubscribeAsync(RedisChannel.Literal(RedisKeys.LogsChannel)).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Withdrew {TaskId} from {Domain}: {Removed} message(s) removed")]
    private partial void LogWithdrawn(string taskId, string domain, long removed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bad data in {Key}: {Reason}")]
    private partial void LogBadResult(string key, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivering a {What} notification for {TaskId} failed; trying again")]
    private partial void LogForwardFailed(Exception e, string what, string taskId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gave up delivering a {What} notification for {TaskId}; the deadline check will find the result")]
    private partial void LogForwardGaveUp(Exception e, string what, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis subscription restored; reconciling in-flight tasks with the results store")]
    private partial void LogResubscribed();
}
