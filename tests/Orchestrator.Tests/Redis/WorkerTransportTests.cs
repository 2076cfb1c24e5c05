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
