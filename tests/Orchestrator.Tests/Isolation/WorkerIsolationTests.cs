using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Isolation;

/// <summary>The standalone worker (orchestrator-worker) on a real redis-server: timeouts with an unread prompt, and what its agents can see.</summary>
public sealed class WorkerIsolationTests
{
    private static Task PushAsync(IDatabase db, string taskId, string description, int timeoutSeconds) =>
        new ReferencePeer(db).QueueTaskAsync("backend", taskId,
            new JsonObject { ["description"] = description, ["requirements"] = new JsonArray(), ["context"] = new JsonObject() }, timeoutSeconds);

    private static Task<Dictionary<string, string>> FinalResultAsync(IDatabase db, string taskId) => new ReferencePeer(db).FinalResultAsync(taskId);

    private static Dictionary<string, string> Environment(RedisServer redis, TempDirectory dir, string script, string? redisUrl = null) => new()
    {
        ["REDIS_URL"] = redisUrl ?? $"redis://{redis.ConnectionString}",
        ["DOMAIN_TYPE"] = "backend",
        ["AGENT_ID"] = "backend-iso00001",
        ["WORKSPACE"] = dir.File("workspace"),
        ["AGENT_COMMAND"] = dir.Script("agent.sh", script),
        ["AGENT_CONFIG"] = dir.File("agent-config"),
        ["HEARTBEAT_INTERVAL_SECONDS"] = "1",
    };

    [RedisFact]
    public async Task An_agent_that_never_reads_a_prompt_over_64_KiB_times_out_on_time_and_leaves_no_process()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        await GitRepository.InitAsync(dir.File("workspace"));
        await using var worker = WorkerProcess.Start(Environment(redis, dir, EmbeddedIsolationTests.AgentThatNeverReads(dir.File("pids"))));
        await worker.RegisteredAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();

        await PushAsync(redis.Db, "t-unread", "Add an API endpoint " + new string('z', 100 * 1024), timeoutSeconds: 5);
        var result = await FinalResultAsync(redis.Db, "t-unread");

        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"the task took {started.Elapsed}");
        Assert.Equal("failed", result["status"]);
        Assert.StartsWith("Timed out after 5 s", result["error"]);
        Assert.True((bool)JsonNode.Parse(result["output"])!["timed_out"]!);
        EmbeddedIsolationTests.AssertAllGone(dir.File("pids"));
    }

    [RedisFact]
    public async Task An_agent_sees_neither_the_redis_password_nor_the_workers_environment_but_gets_the_model_key()
    {
        await using var redis = await RedisServer.StartAsync();
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await redis.Connection.GetServer(redis.ConnectionString).ExecuteAsync("CONFIG", "SET", "requirepass", password);
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var environment = Environment(redis, dir, AgentEnvironmentTests.DumpsEnvironment(dir.File("seen")), $"redis://:{password}@{redis.ConnectionString}");
        environment["ANTHROPIC_API_KEY"] = "sk-ant-test-key";
        await using var worker = WorkerProcess.Start(environment);
        await worker.RegisteredAsync();

        await PushAsync(redis.Db, "t-env", "Add an API endpoint", timeoutSeconds: 30);
        var result = await FinalResultAsync(redis.Db, "t-env");

        Assert.Equal("completed", result["status"]);
        var seen = File.ReadAllText(dir.File("seen"));
        Assert.DoesNotContain(password, seen);
        Assert.DoesNotContain("REDIS_URL", seen);
        Assert.Contains("ANTHROPIC_API_KEY=sk-ant-test-key", seen);
        Assert.Contains("This worker is non-dumpable", worker.Output); // /proc/<worker>/environ is closed to same-user agents
    }

    [RedisFact]
    public async Task A_worker_told_to_pass_no_variables_gives_its_agents_not_even_the_model_key()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var environment = Environment(redis, dir, AgentEnvironmentTests.DumpsEnvironment(dir.File("seen")));
        environment["ANTHROPIC_API_KEY"] = "sk-ant-test-key";
        environment["AGENT_PASS_ENVIRONMENT"] = "";
        await using var worker = WorkerProcess.Start(environment);
        await worker.RegisteredAsync();

        await PushAsync(redis.Db, "t-none", "Add an API endpoint", timeoutSeconds: 30);
        var result = await FinalResultAsync(redis.Db, "t-none");

        Assert.Equal("completed", result["status"]);
        Assert.DoesNotContain("ANTHROPIC_API_KEY", File.ReadAllText(dir.File("seen")));
    }

    [RedisFact]
    public async Task A_task_id_that_would_steer_a_path_is_refused_before_anything_runs()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        await GitRepository.InitAsync(dir.File("workspace"));
        await using var worker = WorkerProcess.Start(Environment(redis, dir, $"touch '{dir.File("ran")}'"));
        await worker.RegisteredAsync();

        await PushAsync(redis.Db, "../..", "Add an API endpoint", timeoutSeconds: 30);
        var result = await FinalResultAsync(redis.Db, "../..");

        Assert.Equal("failed", result["status"]);
        Assert.Contains("'task_id' '../..' is not a valid id", result["error"]);
        Assert.False(File.Exists(dir.File("ran")));
        Assert.Empty(await GitRepository.RunAsync(dir.File("workspace"), "branch", "--list", "orchestrator/*"));
    }
}
