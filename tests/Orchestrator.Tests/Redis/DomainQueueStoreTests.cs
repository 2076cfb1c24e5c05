using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Redis;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Redis;

/// <summary>A scheduler's queue kept record by record in Redis: what a newer activation takes over, and what an older one may no longer write.</summary>
public sealed class DomainQueueStoreTests
{
    private static QueueRecord Queued(string id, int attempt = 1) =>
        new(id, attempt, InFlight: false, TaskPriority.High, 300, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000), Sequence: 7);

    [RedisFact]
    public async Task A_newer_activation_takes_the_records_over_and_the_older_ones_saves_are_refused()
    {
        await using var redis = await RedisServer.StartAsync();
        var store = new RedisDomainQueueStore(redis.Connection, "svc");
        var older = await store.OpenAsync("backend");
        await store.SaveAsync("backend", older.Fence, [Queued("a"), Queued("b")], []);

        var newer = await store.OpenAsync("backend");
        await Assert.ThrowsAsync<QueueStoreFencedException>(() => store.SaveAsync("backend", older.Fence, [], ["a"]));
        await store.SaveAsync("backend", newer.Fence, [Queued("b", attempt: 2) with { InFlight = true }], ["a"]);

        Assert.Equal([Queued("a"), Queued("b")], newer.Records.OrderBy(r => r.SubtaskId));
        Assert.Equal([Queued("b", attempt: 2) with { InFlight = true }], (await store.OpenAsync("backend")).Records);
    }

    [RedisFact]
    public async Task A_paused_queue_stays_paused_for_the_next_activation_until_resumed()
    {
        await using var redis = await RedisServer.StartAsync();
        var store = new RedisDomainQueueStore(redis.Connection, "svc");

        await store.SetPausedAsync("backend", (await store.OpenAsync("backend")).Fence, paused: true);
        var reopened = await store.OpenAsync("backend");
        await store.SetPausedAsync("backend", reopened.Fence, paused: false);

        Assert.True(reopened.Paused);
        Assert.False((await store.OpenAsync("backend")).Paused);
        Assert.False((await store.OpenAsync("frontend")).Paused);
    }

    [RedisFact]
    public async Task A_save_of_more_changes_than_one_script_takes_is_written_whole()
    {
        await using var redis = await RedisServer.StartAsync();
        var store = new RedisDomainQueueStore(redis.Connection, "svc");
        var opened = await store.OpenAsync("backend");

        await store.SaveAsync("backend", opened.Fence, Enumerable.Range(0, 5000).Select(i => Queued($"s{i}")).ToArray(), []);

        Assert.Equal(5000, (await store.OpenAsync("backend")).Records.Count);
    }
}
