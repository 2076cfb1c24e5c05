using Orchestrator.Contracts;
using Orchestrator.Redis;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Redis;

/// <summary>What a worker's end of an attempt leaves in Redis, where the reference's readers look.</summary>
public sealed class WorkerTransportTests
{
    private const string Message = """{"task_id": "sub-1", "type": "implement", "domain": "backend"}""";

    [RedisFact]
    public async Task The_last_log_lines_are_appended_before_the_result_is_written_and_announced_in_one_step()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var transport = new RedisWorkerTransport(redis.Connection);
        var announced = new TaskCompletionSource<(long LogLength, string Status)>();
        await redis.Connection.GetSubscriber().SubscribeAsync(StackExchange.Redis.RedisChannel.Literal("results:sub-1"), (_, _) =>
            announced.TrySetResult((redis.Db.ListLength("results:sub-1:logs"), redis.Db.HashGet("results:sub-1", "status").ToString())));
        var lease = await TakeAsync(redis, transport);

        await transport.CompleteAsync(lease, Result(), ["[t] worked", "[t] completed"], CancellationToken.None);

        Assert.Equal((2, "completed"), await announced.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["[t] worked", "[t] completed"], (await redis.Db.ListRangeAsync("results:sub-1:logs")).Select(l => l.ToString()));
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
    }

    [RedisFact]
    public async Task A_withdrawn_attempt_keeps_its_last_log_lines_and_writes_no_result()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var transport = new RedisWorkerTransport(redis.Connection);
        var lease = await TakeAsync(redis, transport);
        await redis.Db.ListRemoveAsync("tasks:active:backend", Message); // taken back by the orchestrator meanwhile

        await transport.CompleteAsync(lease, Result(), ["[t] stopped"], CancellationToken.None);

        Assert.Equal(["[t] stopped"], (await redis.Db.ListRangeAsync("results:sub-1:logs")).Select(l => l.ToString()));
        Assert.False(await redis.Db.KeyExistsAsync("results:sub-1"));
    }

    [RedisFact]
    public async Task A_taker_joining_others_that_wait_waits_with_them_and_the_notification_brings_one_of_them_the_message()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var transport = new RedisWorkerTransport(redis.Connection);
        var first = transport.TakeAsync("backend", TimeSpan.FromSeconds(30), CancellationToken.None);
        await Eventually.TrueAsync(async () => await TakesAsync(redis) == 1, "the first taker never looked");
        using var stop = new CancellationTokenSource();
        var second = transport.TakeAsync("backend", TimeSpan.FromSeconds(30), stop.Token);

        await QueueAsync(redis, Message);

        Assert.Equal("sub-1", (await first.WaitAsync(TimeSpan.FromSeconds(10)))!.TaskId);
        Assert.Equal(2, await TakesAsync(redis)); // the first taker's look, and its look when woken: the second never looked
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
    }

    [RedisFact]
    public async Task Notifications_that_found_nobody_waiting_make_the_next_takers_look_even_beside_one_that_waits()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var transport = new RedisWorkerTransport(redis.Connection);
        Assert.Null(await transport.TakeAsync("backend", TimeSpan.Zero, CancellationToken.None)); // listening, nobody waiting
        var heard = 0;
        // Handlers of one channel run in the order they subscribed: once this one has both, the transport's has too.
        await redis.Connection.GetSubscriber().SubscribeAsync(StackExchange.Redis.RedisChannel.Literal("notifications:backend"), (_, _) => Interlocked.Increment(ref heard));
        await QueueAsync(redis, Message);
        await QueueAsync(redis, Message.Replace("sub-1", "sub-2"));
        await Eventually.TrueAsync(() => Volatile.Read(ref heard) == 2, "the notifications never came");

        var first = transport.TakeAsync("backend", TimeSpan.FromSeconds(30), CancellationToken.None);
        var second = transport.TakeAsync("backend", TimeSpan.FromSeconds(30), CancellationToken.None); // while the first still looks

        var taken = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["sub-1", "sub-2"], taken.Select(t => t!.TaskId).Order());
    }

    /// <summary>Queues a message as a producer does: onto the pending list, then announced.</summary>
    private static async Task QueueAsync(RedisServer redis, string message)
    {
        await redis.Db.ListLeftPushAsync("tasks:pending:backend", message);
        await redis.Db.PublishAsync(StackExchange.Redis.RedisChannel.Literal("notifications:backend"), message);
    }

    /// <summary>The looks into the pending list Redis has served.</summary>
    private static async Task<long> TakesAsync(RedisServer redis)
    {
        var info = await redis.Connection.GetServers().Single().InfoAsync("commandstats");
        return info.SelectMany(g => g).FirstOrDefault(p => p.Key == "cmdstat_rpoplpush") is { Value: { } value }
            ? long.Parse(value.Split(',')[0]["calls=".Length..])
            : 0;
    }

    private static async Task<Orchestrator.Core.Transport.TaskLease> TakeAsync(RedisServer redis, RedisWorkerTransport transport)
    {
        await redis.Db.ListLeftPushAsync("tasks:pending:backend", Message);
        return (await transport.TakeAsync("backend", TimeSpan.FromSeconds(5), CancellationToken.None))!;
    }

    private static AgentResult Result() => new()
    {
        TaskId = "sub-1", Succeeded = true, OutputJson = """{"stdout": "done"}""", StartedAt = DateTimeOffset.UnixEpoch, CompletedAt = DateTimeOffset.UnixEpoch,
    };
}
