using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Redis;

/// <summary>
/// The orchestrator against a real redis-server, checked with raw Redis commands as the reference network's
/// Python runner and client would send them.
/// </summary>
public sealed class WireProtocolTests
{
    private const string WritesDomainFile = """
        mkdir -p out && cat > "out/$DOMAIN_TYPE.txt"
        """;

    /// <summary>A redis-server, an orchestrator on it, and a reference peer speaking raw commands; stopped in that order reversed.</summary>
    private sealed record Network(RedisServer Redis, OrchestratorCluster Cluster, ReferencePeer Peer) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Cluster.DisposeAsync();
            await Redis.DisposeAsync();
        }
    }

    private static async Task<Network> StartAsync(bool withReferenceAgent, Dictionary<string, string?>? extra = null)
    {
        var redis = await RedisServer.StartAsync();
        var peer = new ReferencePeer(redis.Db);
        if (withReferenceAgent)
        {
            // A healthy reference runner of capacity 1: the pool uses it and spawns nothing.
            await peer.RegisterDomainAgentAsync("backend-0ref0001", "backend", TimeSpan.FromHours(1));
        }

        var cluster = await OrchestratorCluster.StartAsync(dir =>
        {
            var settings = new Dictionary<string, string?>
            {
                ["Redis:ConnectionString"] = redis.ConnectionString,
                ["Domains:Agent:Command"] = dir.Script("agent.sh", WritesDomainFile),
                // The peer plays the reference's runner, which cannot echo an attempt's lease.
                ["Orchestrator:ReferenceCompatibleDomains:0"] = "backend",
            };
            foreach (var (key, value) in extra ?? [])
            {
                settings[key] = value;
            }

            return settings;
        });
        return new Network(redis, cluster, peer);
    }

    private static async Task<string> PendingMessageAsync(RedisServer redis, string domain = "backend")
    {
        string? raw = null;
        await Eventually.TrueAsync(async () => (raw = (await redis.Db.ListRangeAsync($"tasks:pending:{domain}")).LastOrDefault().ToString()) is { Length: > 0 },
            $"no message reached tasks:pending:{domain}");
        return raw!;
    }

    [RedisFact]
    public async Task A_published_task_is_readable_in_the_reference_shape()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, _) = network;

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission
        {
            Description = "Add an API endpoint",
            Requirements = ["POST /api/items"],
            ContextJson = """{"framework": "fastapi"}""",
            Priority = TaskPriority.High,
            TimeoutSeconds = 120,
        });
        var raw = await PendingMessageAsync(redis);

        var message = JsonNode.Parse(raw)!;
        var subtaskId = submitted.Subtasks.Single().TaskId;
        Assert.Equal(subtaskId, (string?)message["task_id"]);
        Assert.Equal("task_assignment", (string?)message["type"]);
        Assert.Equal("main-orchestrator", (string?)message["source"]);
        Assert.Equal("backend", (string?)message["destination"]);
        Assert.True(DateTimeOffset.TryParse((string?)message["timestamp"], out _));
        Assert.Equal("Add an API endpoint", (string?)message["payload"]!["description"]);
        Assert.Equal(["POST /api/items"], message["payload"]!["requirements"]!.AsArray().Select(r => (string?)r));
        Assert.Equal("fastapi", (string?)message["payload"]!["context"]!["framework"]);
        Assert.Equal("high", (string?)message["metadata"]!["priority"]);
        Assert.Equal(120, (int?)message["metadata"]!["timeout_seconds"]);
        var result = await redis.Db.HashGetAllAsync($"results:{subtaskId}");
        Assert.Equal("pending", result.Single(f => f.Name == "status").Value.ToString());
        Assert.Equal(subtaskId, result.Single(f => f.Name == "task_id").Value.ToString());
        // Queued in the same step as the message, so before any worker can log the task.
        Assert.Contains((await redis.Db.ListRangeAsync($"results:{subtaskId}:logs")).Select(l => l.ToString()), l => l.EndsWith("] Dispatched to the backend domain (attempt 1)"));
    }

    [RedisFact]
    public async Task A_result_written_in_the_reference_shape_completes_the_task()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, peer) = network;
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await PendingMessageAsync(redis);

        var raw = (await peer.TakeAsync("backend"))!;
        await peer.MarkInProgressAsync(submitted.Subtasks.Single().TaskId);
        await peer.FinishAsync("backend", raw, "completed", ReferencePeer.Output("app/items.py"));
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(["app/items.py"], ResultAggregator.FilesOf(result.Subtasks.Single(), "files_created"));
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
    }

    [RedisFact]
    public async Task A_dependents_message_keeps_the_reference_shape_and_carries_its_dependencys_result_as_an_extra_context_key()
    {
        await using var network = await StartAsync(withReferenceAgent: true, new() { ["Orchestrator:ReferenceCompatibleDomains:1"] = "frontend" });
        var (redis, cluster, peer) = network;
        await peer.RegisterDomainAgentAsync("frontend-0ref0002", "frontend", TimeSpan.FromHours(1));
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission
        {
            Description = "Create user registration with form and API",
            ContextJson = """{"framework": "fastapi"}""",
            After = [new("frontend", "backend")],
        });
        await PendingMessageAsync(redis);
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:pending:frontend")); // waits, unpublished

        var backend = (await peer.TakeAsync("backend"))!;
        await peer.FinishAsync("backend", backend, "completed", ReferencePeer.Output("app/items.py"));
        var message = JsonNode.Parse(await PendingMessageAsync(redis, "frontend"))!;

        Assert.Equal(submitted.Subtasks.Single(s => s.Domain == "frontend").TaskId, (string?)message["task_id"]);
        var context = message["payload"]!["context"]!;
        Assert.Equal("fastapi", (string?)context["framework"]);
        var result = context["dependency_results"]!["backend"]!;
        Assert.Equal("completed", (string?)result["status"]);
        Assert.Equal(["app/items.py"], result["files_created"]!.AsArray().Select(f => (string?)f));
        Assert.Equal("done", (string?)result["output_tail"]);
    }

    [RedisFact]
    public async Task A_result_whose_notification_was_missed_is_found_in_its_hash_when_the_deadline_passes()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, peer) = network;
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 1 });
        await PendingMessageAsync(redis);

        var raw = (await peer.TakeAsync("backend"))!;
        await peer.FinishAsync("backend", raw, "completed", ReferencePeer.Output("app/late.py"), publish: false);
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(1, result.Subtasks.Single().Attempts);
    }

    [RedisFact]
    public async Task A_duplicate_result_changes_nothing()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, peer) = network;
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await PendingMessageAsync(redis);
        var raw = (await peer.TakeAsync("backend"))!;
        await peer.FinishAsync("backend", raw, "completed", ReferencePeer.Output("app/one.py"));
        var first = await cluster.ResultAsync(submitted.TaskId);

        await peer.FinishAsync("backend", raw, "completed", ReferencePeer.Output("app/one.py"));
        await peer.FinishAsync("backend", raw, "failed", new JsonObject(), error: "a late failure");
        var again = await cluster.Client.GetAsync(submitted.TaskId);
        var log = await cluster.Client.GetLogsAsync(submitted.TaskId);

        Assert.Equal(first.Version, again.Version);
        Assert.Equal(TaskState.Completed, again.State);
        Assert.Single(log.Entries, e => e.Line.EndsWith("] Completed"));
    }

    [RedisFact]
    public async Task A_high_priority_task_overtakes_a_low_priority_backlog_because_the_pending_list_holds_only_what_workers_can_take()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, peer) = network;
        var low = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            low.Add((await cluster.Client.SubmitAsync(new TaskSubmission { Description = $"Add API endpoint {i}", Priority = TaskPriority.Low })).Subtasks.Single().TaskId);
        }

        var high = (await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Fix the login API", Priority = TaskPriority.High })).Subtasks.Single().TaskId;
        await PendingMessageAsync(redis);

        Assert.Equal(1, await redis.Db.ListLengthAsync("tasks:pending:backend"));
        var firstRaw = (await peer.TakeAsync("backend"))!;
        Assert.Equal(low[0], (string?)JsonNode.Parse(firstRaw)!["task_id"]);
        await peer.FinishAsync("backend", firstRaw, "completed", ReferencePeer.Output());
        var next = JsonNode.Parse(await PendingMessageAsync(redis))!;
        Assert.Equal(high, (string?)next["task_id"]);
    }

    [RedisFact]
    public async Task A_message_left_in_the_active_list_by_a_dead_worker_is_dispatched_again_and_completes()
    {
        await using var network = await StartAsync(withReferenceAgent: false, new() { ["Orchestrator:Retry:MaxAttempts"] = "2" });
        var (redis, cluster, peer) = network;
        // A worker of ours that then dies: registered, takes the task, says so, and never heart-beats again.
        await peer.RegisterDomainAgentAsync("backend-dead0001", "backend", TimeSpan.FromSeconds(2));
        await Eventually.TrueAsync(async () => (await cluster.Client.ListDomainsAsync()).Single(p => p.DomainType == "backend").Domains.Any(d => d.Healthy),
            "the pool did not see the registered agent");
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await PendingMessageAsync(redis);
        var raw = (await peer.TakeAsync("backend"))!;
        var subtaskId = submitted.Subtasks.Single().TaskId;
        await redis.Db.HashSetAsync($"results:{subtaskId}", [new("status", "in_progress"), new("agent_id", "backend-dead0001")]);
        await redis.Db.PublishAsync(RedisChannel.Literal("orchestrator:events:started"),
            new JsonObject { ["task_id"] = subtaskId, ["agent_id"] = "backend-dead0001", ["started_at"] = ReferencePeer.Now }.ToJsonString());

        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(2, result.Subtasks.Single().Attempts);
        Assert.NotEqual("backend-dead0001", result.Subtasks.Single().AgentId);
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
        Assert.True(File.Exists(Path.Combine(cluster.Workspace, "out/backend.txt")));
        Assert.DoesNotContain(raw, (await redis.Db.ListRangeAsync("tasks:active:backend")).Select(v => v.ToString()));
    }

    [RedisFact]
    public async Task Malformed_messages_are_failed_with_a_reason_or_dropped_and_the_next_task_is_served()
    {
        await using var network = await StartAsync(withReferenceAgent: false);
        var (redis, cluster, _) = network;
        await redis.Db.ListLeftPushAsync("tasks:pending:backend", "this is not json");
        await redis.Db.ListLeftPushAsync("tasks:pending:backend",
            """{"task_id": "bad-1", "type": "task_assignment", "payload": {"description": "x"}, "metadata": {"timeout_seconds": "soon"}}""");

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        var bad = await ResultFieldsAsync(redis, "results:bad-1");
        Assert.Equal("failed", bad["status"]);
        Assert.Contains("metadata.timeout_seconds", bad["error"]);
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
    }

    [RedisFact]
    public async Task Messages_naming_a_field_twice_or_holding_invalid_text_are_rejected_and_the_worker_goes_on()
    {
        await using var network = await StartAsync(withReferenceAgent: false);
        var (redis, cluster, _) = network;
        foreach (var raw in new[]
        {
            """{"task_id": "dup-1", "task_id": "dup-2", "payload": {"description": "x"}}""",
            """{"task_id": "dup-3", "payload": {"description": "x", "description": "y"}}""",
            """{"task_id": "bad-\ud800", "payload": {"description": "x"}}""",
        })
        {
            await redis.Db.ListLeftPushAsync("tasks:pending:backend", raw);
        }

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        var dup = await ResultFieldsAsync(redis, "results:dup-3");
        Assert.Equal("failed", dup["status"]);
        Assert.Contains("named twice", dup["error"]);
        Assert.Equal(0, await redis.Db.ListLengthAsync("tasks:active:backend"));
    }

    [RedisFact]
    public async Task An_oversized_output_fails_the_task_with_the_limit_in_the_reason()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, peer) = network;
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await PendingMessageAsync(redis);
        var raw = (await peer.TakeAsync("backend"))!;

        var huge = new JsonObject { ["stdout"] = new string('x', 2 * 1024 * 1024) };
        await peer.FinishAsync("backend", raw, "completed", huge);
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Failed, result.State);
        Assert.Contains("the limit is 1048576", result.Subtasks.Single().Error);
    }

    [RedisFact]
    public async Task A_result_for_an_unknown_task_creates_no_task()
    {
        await using var network = await StartAsync(withReferenceAgent: true);
        var (redis, cluster, _) = network;

        await redis.Db.PublishAsync(RedisChannel.Literal("results:not-ours"), """{"task_id": "not-ours", "status": "completed", "output": "{}"}""");
        await redis.Db.PublishAsync(RedisChannel.Literal("results:not-ours-either"), "{ not json");
        await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await PendingMessageAsync(redis); // the result listener is still at work after both

        await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync("not-ours"));
    }

    [RedisFact]
    public async Task A_task_queued_by_a_reference_client_is_served_by_our_worker_and_its_result_lands_in_the_hash()
    {
        await using var network = await StartAsync(withReferenceAgent: false);
        var (redis, cluster, _) = network;
        await cluster.Client.SpawnDomainAsync("backend");

        var message = new JsonObject
        {
            ["task_id"] = "3f1c7a52-0000-4000-8000-000000000001",
            ["type"] = "task_assignment",
            ["source"] = "cli",
            ["destination"] = "backend",
            ["timestamp"] = ReferencePeer.Now,
            ["payload"] = new JsonObject { ["description"] = "Add a health endpoint", ["requirements"] = new JsonArray("GET /health"), ["context"] = new JsonObject() },
            ["metadata"] = new JsonObject { ["priority"] = "normal", ["timeout_seconds"] = 60 },
        }.ToJsonString();
        await redis.Db.HashSetAsync("results:3f1c7a52-0000-4000-8000-000000000001", [new("task_id", "3f1c7a52-0000-4000-8000-000000000001"), new("status", "pending")]);
        await redis.Db.ListLeftPushAsync("tasks:pending:backend", message);
        await redis.Db.PublishAsync(RedisChannel.Literal("notifications:backend"), message);

        Dictionary<string, string> result = [];
        await Eventually.TrueAsync(async () =>
        {
            result = await ResultFieldsAsync(redis, "results:3f1c7a52-0000-4000-8000-000000000001");
            return result.GetValueOrDefault("status") is "completed" or "failed";
        }, "the reference-queued task got no final result", seconds: 30);

        Assert.Equal("completed", result["status"]);
        Assert.Contains("out/backend.txt", JsonNode.Parse(result["output"])!["files_created"]!.AsArray().Select(f => (string?)f));
        Assert.True(DateTimeOffset.TryParse(result["completed_at"], out _));
        Assert.Contains("GET /health", File.ReadAllText(Path.Combine(cluster.Workspace, "out/backend.txt")));
    }

    [RedisFact]
    public async Task The_orchestrator_and_its_workers_appear_in_the_reference_registry_keys()
    {
        await using var network = await StartAsync(withReferenceAgent: false);
        var (redis, cluster, _) = network;

        var domain = await cluster.Client.SpawnDomainAsync("backend");
        await Eventually.TrueAsync(async () => await redis.Db.SetContainsAsync("agents:domains:backend", domain.DomainId), "the spawned worker did not register");

        Assert.Equal("main-orchestrator", (string?)await redis.Db.StringGetAsync("agents:main"));
        Assert.True(await redis.Db.SetContainsAsync("agents:all", "main-orchestrator"));
        Assert.Equal("main", (string?)await redis.Db.HashGetAsync("agents:info:main-orchestrator", "role"));
        Assert.True(await redis.Db.KeyExistsAsync("agents:heartbeat:main-orchestrator"));
        Assert.True(await redis.Db.SetContainsAsync("agents:domains", domain.DomainId));
        Assert.Equal("backend", (string?)await redis.Db.HashGetAsync($"agents:info:{domain.DomainId}", "domain_type"));
        Assert.Matches("^[0-9a-f]{16}$", (string?)await redis.Db.HashGetAsync($"agents:info:{domain.DomainId}", "incarnation"));
        var ttl = await redis.Db.KeyTimeToLiveAsync($"agents:heartbeat:{domain.DomainId}");
        Assert.InRange(ttl!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(3)); // the test cluster's Orchestrator:HeartbeatTtl
    }

    private static async Task<Dictionary<string, string>> ResultFieldsAsync(RedisServer redis, string key) =>
        (await redis.Db.HashGetAllAsync(key)).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
}
