using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Contracts;
using Orchestrator.Grains;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Retention;

/// <summary>Finished tasks leave Redis after their retention period, or at once with prune; running ones never do.</summary>
public sealed class RetentionTests
{
    private static readonly TaskSubmission Backend = new() { Description = "Add an API endpoint", Domains = ["backend"] };

    [RedisFact]
    public async Task A_task_past_its_retention_leaves_no_key_behind_and_no_index_entry()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Agent:Command"] = "demo",
            ["Orchestrator:Retention:FinishedTasks"] = "00:00:03",
        });
        var task = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        Assert.Equal(TaskState.Completed, task.State);
        var ids = TaskIds(task);

        // Until the period ends the task is all there, each of its keys with an expiry; status and the listing show it.
        var keys = await KeysOfAsync(redis, ids);
        Assert.Equal(6, keys.Length); // task and subtask grain state, the subtask's diff, results hash and log of the subtask, log of the task
        foreach (var key in keys)
        {
            Assert.True(await redis.Db.KeyTimeToLiveAsync(key) is { } ttl && ttl > TimeSpan.Zero, $"{key} has no expiry");
        }

        Assert.Equal(TaskState.Completed, (await cluster.Client.GetAsync(task.TaskId)).State);
        Assert.Contains(task.TaskId, (await cluster.Client.ListTasksAsync()).Select(t => t.TaskId));

        await Eventually.TrueAsync(async () => (await KeysOfAsync(redis, ids)).Length == 0,
            $"keys of the expired task remain: {string.Join(", ", await KeysOfAsync(redis, ids))}", seconds: 30);
        var error = await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync(task.TaskId));
        Assert.Contains("retention period", error.Message);
        Assert.DoesNotContain(task.TaskId, (await cluster.ClusterClient.GetGrain<ITaskIndexGrain>(0).Recent(100)).Select(t => t.TaskId));
        // Not only left out of the listing: gone from the index's stored state (written within a second).
        var index = (await KeysOfAsync(redis, ["/taskindex/"])).Single();
        await Eventually.TrueAsync(async () => !((string?)await redis.Db.HashGetAsync(index, "data"))!.Contains(task.TaskId),
            "the task index still stores the expired task");
    }

    [RedisFact]
    public async Task Prune_removes_every_key_of_a_finished_task_at_once_and_leaves_a_running_task_alone()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Agent:Command"] = "demo",
            ["Domains:Types:frontend:Command"] = "sleep 600",
        });
        var finished = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        var running = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build a form component", Domains = ["frontend"] });
        running = await cluster.WaitUntilAsync(running.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        var runningKeys = await KeysOfAsync(redis, TaskIds(running));

        // Age zero: every finished task, however young — and still not the running one.
        var report = await cluster.Client.PruneAsync(TimeSpan.Zero);

        Assert.Equal([finished.TaskId], report.Removed.Select(r => r.TaskId));
        Assert.Empty(await KeysOfAsync(redis, TaskIds(finished)));
        await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync(finished.TaskId));
        Assert.DoesNotContain(finished.TaskId, (await cluster.ClusterClient.GetGrain<ITaskIndexGrain>(0).Recent(100)).Select(t => t.TaskId));
        Assert.Equal(TaskState.InProgress, (await cluster.Client.GetAsync(running.TaskId)).State);
        Assert.Equal(runningKeys, await KeysOfAsync(redis, TaskIds(running)));
        await cluster.Client.CancelAsync(running.TaskId);
    }

    [RedisFact]
    public async Task A_retried_task_keeps_its_keys_while_it_runs_again_and_expires_once_final_again()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            // Fails the first time; runs on (until cancelled) the second.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"[ -f '{dir.File("ran")}' ] && exec sleep 600\ntouch '{dir.File("ran")}'\nexit 3"),
        });
        var failed = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        Assert.Equal(TaskState.Failed, failed.State);
        var ids = TaskIds(failed);
        Assert.All(await TimesToLiveAsync(redis, ids), ttl => Assert.NotNull(ttl));

        await cluster.Client.RetryAsync(failed.TaskId);

        Assert.All(await TimesToLiveAsync(redis, ids), ttl => Assert.Null(ttl));
        await cluster.WaitUntilAsync(failed.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        await cluster.Client.CancelAsync(failed.TaskId);
        await cluster.ResultAsync(failed.TaskId);
        Assert.All(await TimesToLiveAsync(redis, ids), ttl => Assert.NotNull(ttl));
    }

    [RedisFact]
    public async Task A_task_finished_while_retention_was_off_gets_its_expiry_when_next_read_by_a_silo_with_retention()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        var (finished, silo) = await FinishUnderRetentionAsync(redis, dir, "0");
        await using var restarted = await SiloProcess.StartAsync(SiloSettings(redis, dir, retention: "1"), restartOf: silo);
        await using var connection = await restarted.ConnectAsync(redis.ConnectionString);

        var task = await connection.Client.GetAsync(finished.TaskId);

        Assert.Equal(TaskState.Completed, task.State);
        Assert.All(await TimesToLiveAsync(redis, TaskIds(task)), ttl => Assert.InRange(ttl!.Value, TimeSpan.FromHours(23), TimeSpan.FromDays(1)));
    }

    [RedisFact]
    public async Task A_task_finished_while_retention_was_off_and_already_past_the_new_period_is_removed_when_next_read()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        var (finished, silo) = await FinishUnderRetentionAsync(redis, dir, "0");
        // Any restart takes longer than this period.
        await using var restarted = await SiloProcess.StartAsync(SiloSettings(redis, dir, retention: "00:00:00.001"), restartOf: silo);
        await using var connection = await restarted.ConnectAsync(redis.ConnectionString);

        await Assert.ThrowsAsync<UnknownTaskException>(() => connection.Client.GetAsync(finished.TaskId));

        Assert.Empty(await KeysOfAsync(redis, TaskIds(finished)));
    }

    [RedisFact]
    public async Task A_task_with_an_expiry_keeps_its_keys_for_good_when_next_read_by_a_silo_that_keeps_finished_tasks_forever()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        var (finished, silo) = await FinishUnderRetentionAsync(redis, dir, "1");
        await using var restarted = await SiloProcess.StartAsync(SiloSettings(redis, dir, retention: "0"), restartOf: silo);
        await using var connection = await restarted.ConnectAsync(redis.ConnectionString);

        Assert.Equal(TaskState.Completed, (await connection.Client.GetAsync(finished.TaskId)).State);

        Assert.All(await TimesToLiveAsync(redis, TaskIds(finished)), ttl => Assert.Null(ttl));
    }

    private static Dictionary<string, string> SiloSettings(RedisServer redis, TempDirectory dir, string retention) => new()
    {
        ["Redis:ConnectionString"] = redis.ConnectionString,
        ["Domains:Workspace"] = dir.File("workspace"),
        ["Domains:Agent:Command"] = "demo",
        ["Orchestrator:Retention:FinishedTasks"] = retention,
        ["Web:TokenFile"] = dir.File("token"),
    };

    /// <summary>A silo process with <paramref name="retention"/> runs a task to the end, and stops.</summary>
    private static async Task<(TaskView Finished, SiloProcess Stopped)> FinishUnderRetentionAsync(RedisServer redis, TempDirectory dir, string retention)
    {
        Directory.CreateDirectory(dir.File("workspace"));
        var silo = await SiloProcess.StartAsync(SiloSettings(redis, dir, retention));
        await using (silo)
        {
            await using var connection = await silo.ConnectAsync(redis.ConnectionString);
            var task = await connection.Client.SubmitAsync(Backend);
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            task = await connection.Client.WaitForResultAsync(task.TaskId, bound.Token);
            Assert.Equal(TaskState.Completed, task.State);
            Assert.All(await TimesToLiveAsync(redis, TaskIds(task)), ttl => Assert.Equal(retention == "0", ttl is null));
            await silo.StopAsync();
            return (task, silo);
        }
    }

    [Fact]
    public async Task A_finished_task_is_readable_and_listed_until_its_retention_ends_and_unknown_after()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cluster = await OrchestratorCluster.StartAsync(
            _ => new() { ["Orchestrator:Retention:FinishedTasks"] = "1" }, // a plain number is days
            services => services.AddKeyedSingleton<TimeProvider>(TaskClock.Key, clock));
        var task = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);

        clock.Advance(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(1));
        Assert.Equal(TaskState.Completed, (await cluster.Client.GetAsync(task.TaskId)).State);
        Assert.Contains(task.TaskId, (await cluster.Client.ListTasksAsync()).Select(t => t.TaskId));

        clock.Advance(TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync(task.TaskId));
        Assert.Contains("retention period", error.Message);
        Assert.DoesNotContain(task.TaskId, (await cluster.ClusterClient.GetGrain<ITaskIndexGrain>(0).Recent(100)).Select(t => t.TaskId));
    }

    [Fact]
    public async Task Prune_with_an_age_removes_only_the_tasks_that_finished_longer_ago()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => [], services => services.AddKeyedSingleton<TimeProvider>(TaskClock.Key, clock));
        var older = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        clock.Advance(TimeSpan.FromHours(2));
        var younger = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        clock.Advance(TimeSpan.FromMinutes(30));

        var report = await cluster.Client.PruneAsync(TimeSpan.FromHours(1));

        Assert.Equal([older.TaskId], report.Removed.Select(r => r.TaskId));
        await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync(older.TaskId));
        Assert.Equal(TaskState.Completed, (await cluster.Client.GetAsync(younger.TaskId)).State);
        Assert.Equal([younger.TaskId], (await cluster.Client.ListTasksAsync()).Select(t => t.TaskId));
    }

    [Fact]
    public async Task Prune_refuses_a_negative_age_on_the_silo()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => []);

        // Straight to the grain, as a client that skips the CLI's own check would.
        var error = await Assert.ThrowsAsync<InvalidTaskRequestException>(() => cluster.ClusterClient.GetGrain<ITaskIndexGrain>(0).Prune(TimeSpan.FromHours(-1)));

        Assert.Contains("negative", error.Message);
    }

    [Fact]
    public async Task A_client_can_neither_purge_a_task_nor_mark_it_finished_directly()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "sleep 600" });
        var running = await cluster.Client.SubmitAsync(Backend);

        await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<ITaskGrain>(running.TaskId).Purge(DateTimeOffset.MaxValue));
        await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<ISubtaskGrain>(running.Subtasks.Single().TaskId).Purge());
        // A forged "finished" notice (one-way, so refused silently) would not be enough either: each task judges its own state.
        await cluster.ClusterClient.GetGrain<ITaskIndexGrain>(0).Finished(running.TaskId, DateTimeOffset.MinValue);

        Assert.Empty((await cluster.Client.PruneAsync(TimeSpan.Zero)).Removed);
        Assert.False((await cluster.Client.GetAsync(running.TaskId)).State.IsFinal());
        await cluster.Client.CancelAsync(running.TaskId);
    }

    [Theory]
    [InlineData("-1.00:00:00", "negative")]
    [InlineData("10675199.00:00:00", "longer than 36500 days")]
    public async Task A_retention_that_cannot_work_stops_the_silo_at_start_naming_the_setting(string retention, string reason)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => OrchestratorCluster.StartAsync(_ => new()
        {
            ["Orchestrator:Retention:FinishedTasks"] = retention,
        }));

        Assert.Contains($"Orchestrator:Retention:FinishedTasks is {retention}, which is {reason}", error.ToString());
    }

    [RedisFact]
    public async Task A_retried_task_whose_own_write_failed_is_not_expired_by_its_next_read_while_it_runs_again()
    {
        var failTaskWrite = 0;
        var storage = new GrainStorageInterceptor(state =>
            state is Grains.Tasks.TaskGrainState && Interlocked.Exchange(ref failTaskWrite, 0) == 1 ? throw new IOException("storage blip") : Task.CompletedTask);
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            // Fails the first time; runs on (until cancelled) the second.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"[ -f '{dir.File("ran")}' ] && exec sleep 600\ntouch '{dir.File("ran")}'\nexit 3"),
        }, storage.Install);
        var failed = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        var ids = TaskIds(failed);

        // The retry lifts the expiry and starts the part again, but the task's own write fails: its stored copy still
        // reads as finished, with the old expiry time.
        failTaskWrite = 1;
        await Assert.ThrowsAnyAsync<Exception>(() => cluster.Client.RetryAsync(failed.TaskId));
        var running = await cluster.WaitUntilAsync(failed.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

        Assert.Equal(TaskState.InProgress, running.State);
        Assert.All(await TimesToLiveAsync(redis, ids), ttl => Assert.Null(ttl));
        await cluster.Client.CancelAsync(failed.TaskId);
        await cluster.ResultAsync(failed.TaskId);
        Assert.All(await TimesToLiveAsync(redis, ids), ttl => Assert.NotNull(ttl));
    }

    [RedisFact]
    public async Task A_finished_tasks_expiry_lost_beside_its_final_write_is_set_again_when_the_task_is_next_read()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Agent:Command"] = "demo",
            ["Orchestrator:Retention:FinishedTasks"] = "01:00:00",
        });
        var task = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend)).TaskId);
        // The expiry is sent beside the write that stores the final state; what it leaves when only the write landed:
        var keys = await KeysOfAsync(redis, TaskIds(task));
        foreach (var key in keys)
        {
            await redis.Db.KeyPersistAsync(key);
        }

        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(TaskState.Completed, (await cluster.Client.GetAsync(task.TaskId)).State);

        Assert.Equal(keys, await KeysOfAsync(redis, TaskIds(task)));
        foreach (var key in keys)
        {
            Assert.True(await redis.Db.KeyTimeToLiveAsync(key) is { } ttl && ttl > TimeSpan.FromMinutes(50), $"{key} has no expiry");
        }
    }

    private static string[] TaskIds(TaskView task) => [task.TaskId, .. task.Subtasks.Select(s => s.TaskId)];

    private static async Task<TimeSpan?[]> TimesToLiveAsync(RedisServer redis, IReadOnlyList<string> ids)
    {
        var keys = await KeysOfAsync(redis, ids);
        Assert.Equal(6, keys.Length);
        return await Task.WhenAll(keys.Select(k => redis.Db.KeyTimeToLiveAsync(k)));
    }

    /// <summary>Every key in the server whose name holds one of the ids (SCAN, as an operator would look).</summary>
    private static async Task<string[]> KeysOfAsync(RedisServer redis, IReadOnlyList<string> ids)
    {
        var server = redis.Connection.GetServer(redis.Connection.GetEndPoints()[0]);
        var found = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: "*"))
        {
            if (ids.Any(id => key.ToString().Contains(id, StringComparison.Ordinal)))
            {
                found.Add(key.ToString());
            }
        }

        return found.Order(StringComparer.Ordinal).ToArray();
    }
}
