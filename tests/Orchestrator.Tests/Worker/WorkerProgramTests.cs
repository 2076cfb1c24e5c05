using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Worker;

/// <summary>The standalone worker program against a real redis-server, running real agent scripts.</summary>
public sealed class WorkerProgramTests
{
    private sealed class Setup : IAsyncDisposable
    {
        public required RedisServer Redis { get; init; }
        public required TempDirectory Dir { get; init; }

        public string Workspace => Dir.File("workspace");

        public Dictionary<string, string> Environment(string agentScript, params (string Key, string Value)[] extra)
        {
            var environment = new Dictionary<string, string>
            {
                ["REDIS_URL"] = $"redis://{Redis.ConnectionString}",
                ["DOMAIN_TYPE"] = "backend",
                ["AGENT_ID"] = "backend-test0001",
                ["WORKSPACE"] = Workspace,
                ["AGENT_COMMAND"] = Dir.Script("agent.sh", agentScript),
                ["AGENT_CONFIG"] = Dir.File("agent-config"),
                ["HEARTBEAT_INTERVAL_SECONDS"] = "1",
            };
            foreach (var (key, value) in extra)
            {
                environment[key] = value;
            }

            return environment;
        }

        public async ValueTask DisposeAsync()
        {
            await Redis.DisposeAsync();
            Dir.Dispose();
        }
    }

    private static async Task<Setup> StartAsync()
    {
        var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        return new Setup { Redis = await RedisServer.StartAsync(), Dir = dir };
    }

    /// <summary>Queues a task as the reference's client does: pending result, LPUSH, notification.</summary>
    private static async Task PushTaskAsync(IDatabase db, string taskId, int timeoutSeconds = 60, JsonArray? workers = null)
    {
        var payload = new JsonObject { ["description"] = "Add a health endpoint", ["requirements"] = new JsonArray("GET /health returns 200"), ["context"] = new JsonObject { ["framework"] = "fastapi" } };
        if (workers is not null)
        {
            payload["workers"] = workers;
        }

        await new ReferencePeer(db).QueueTaskAsync("backend", taskId, payload, timeoutSeconds);
    }

    private static Task<Dictionary<string, string>> FinalResultAsync(IDatabase db, string taskId, int seconds = 30) =>
        new ReferencePeer(db).FinalResultAsync(taskId, seconds);

    private static IEnumerable<string?> Files(Dictionary<string, string> result, string list) =>
        JsonNode.Parse(result["output"])![list]!.AsArray().Select(f => (string?)f);

    [RedisFact]
    public async Task A_task_result_holds_stdout_the_changed_files_the_exit_code_and_the_duration()
    {
        await using var setup = await StartAsync();
        File.WriteAllText(Path.Combine(setup.Workspace, "existing.txt"), "old");
        File.WriteAllText(Path.Combine(setup.Workspace, "obsolete.txt"), "x");
        await using var worker = WorkerProcess.Start(setup.Environment("""
            cat > prompt.md
            echo changed >> existing.txt
            rm obsolete.txt
            grep -c "^## " prompt.md
            grep "api-worker" prompt.md
            """));
        await worker.RegisteredAsync();

        await PushTaskAsync(setup.Redis.Db, "t-files", workers: new JsonArray("api-worker"));
        var result = await FinalResultAsync(setup.Redis.Db, "t-files");

        Assert.Equal("completed", result["status"]);
        Assert.Equal(["prompt.md"], Files(result, "files_created"));
        Assert.Equal(["existing.txt"], Files(result, "files_modified"));
        Assert.Equal(["obsolete.txt"], Files(result, "files_deleted"));
        var output = JsonNode.Parse(result["output"])!;
        Assert.Equal("merged", (string)output["merge"]!);
        Assert.Equal("oldchanged\n", File.ReadAllText(Path.Combine(setup.Workspace, "existing.txt")));
        Assert.False(File.Exists(Path.Combine(setup.Workspace, "obsolete.txt")));
        Assert.Equal(0, (int)output["exit_code"]!);
        Assert.True((long)output["duration_ms"]! >= 0);
        Assert.Contains("api-worker", (string)output["stdout"]!);
        var prompt = File.ReadAllText(Path.Combine(setup.Workspace, "prompt.md"));
        Assert.Contains("## Task", prompt);
        Assert.Contains("- GET /health returns 200", prompt);
        Assert.Contains("\"framework\": \"fastapi\"", prompt);
        Assert.Equal("backend-test0001", result["agent_id"]);
    }

    [RedisFact]
    public async Task A_worker_reading_codex_json_events_reports_their_usage_in_the_result_output_and_their_text_as_stdout()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("""
            echo '{"type":"thread.started","thread_id":"0199a213"}'
            echo '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"Health endpoint added."}}'
            echo '{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":1000,"output_tokens":300}}'
            """, ("AGENT_USAGE_FORMAT", "codex-json"), ("AGENT_PRICES", """{"default":{"input":2,"output":10,"cache_write":0,"cache_read":0.5}}""")));
        await worker.RegisteredAsync();

        await PushTaskAsync(setup.Redis.Db, "t-usage");
        var output = JsonNode.Parse((await FinalResultAsync(setup.Redis.Db, "t-usage"))["output"])!;

        Assert.Equal("Health endpoint added.\n", (string)output["stdout"]!);
        var usage = output["usage"]!;
        Assert.Equal((200L, 300L, 1000L), ((long)usage["input_tokens"]!, (long)usage["output_tokens"]!, (long)usage["cache_read_input_tokens"]!));
        Assert.Equal((200 * 2 + 300 * 10 + 1000 * 0.5) / 1e6, (double)usage["cost_usd"]!, 9);
    }

    [RedisFact]
    public async Task Output_reaches_the_task_log_in_batches_not_one_redis_call_a_line()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("for i in $(seq 1 3000); do echo \"line $i\"; done"));
        await worker.RegisteredAsync();
        var server = setup.Redis.Connection.GetServer(setup.Redis.Connection.GetEndPoints().Single());
        await server.ExecuteAsync("CONFIG", "RESETSTAT");

        await PushTaskAsync(setup.Redis.Db, "t-chatty");
        var result = await FinalResultAsync(setup.Redis.Db, "t-chatty");

        Assert.Equal("completed", result["status"]);
        var log = (await setup.Redis.Db.ListRangeAsync("results:t-chatty:logs")).Select(l => l.ToString()).ToArray();
        Assert.Contains(log, l => l.EndsWith("] line 1"));
        Assert.Contains(log, l => l.EndsWith("] line 3000"));
        Assert.Matches(@"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00\] ", log[0]);
        var rpushCalls = (await server.InfoAsync("commandstats")).SelectMany(g => g).Single(p => p.Key == "cmdstat_rpush").Value;
        var calls = int.Parse(System.Text.RegularExpressions.Regex.Match(rpushCalls, @"calls=(\d+)").Groups[1].Value);
        Assert.InRange(calls, 1, 100);
        Assert.True(((string)JsonNode.Parse(result["output"])!["stdout"]!).Length <= 16 * 1024);
    }

    [RedisFact]
    public async Task The_timeout_kills_the_whole_process_tree_and_fails_the_task()
    {
        await using var setup = await StartAsync();
        var beat = setup.Dir.File("child-alive.txt");
        await using var worker = WorkerProcess.Start(setup.Environment($"""
            (while true; do date +%s%N > '{beat}'; sleep 0.1; done) &
            sleep 60
            """));
        await worker.RegisteredAsync();

        await PushTaskAsync(setup.Redis.Db, "t-slow", timeoutSeconds: 1);
        var result = await FinalResultAsync(setup.Redis.Db, "t-slow");

        Assert.Equal("failed", result["status"]);
        Assert.Contains("Timed out after 1 s", result["error"]);
        var last = File.ReadAllText(beat);
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(last, File.ReadAllText(beat));
    }

    [RedisFact]
    public async Task Agents_of_a_worker_killed_with_sigkill_do_not_outlive_it()
    {
        await using var setup = await StartAsync();
        var agentBeat = setup.Dir.File("agent-alive.txt");
        var childBeat = setup.Dir.File("child-alive.txt");
        await using var worker = WorkerProcess.Start(setup.Environment($"""
            (while true; do date +%s%N > '{childBeat}'; sleep 0.1; done) &
            while true; do date +%s%N > '{agentBeat}'; sleep 0.1; done
            """));
        await worker.RegisteredAsync();
        await PushTaskAsync(setup.Redis.Db, "t-orphan");
        await Eventually.TrueAsync(() => File.Exists(agentBeat) && File.Exists(childBeat), "the agent did not start");

        await worker.KillWorkerOnlyAsync();
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // the watchdog looks once a second
        var (agent, child) = (File.ReadAllText(agentBeat), File.ReadAllText(childBeat));
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.Equal(agent, File.ReadAllText(agentBeat));
        Assert.Equal(child, File.ReadAllText(childBeat));
    }

    [RedisFact]
    public async Task An_agent_that_exits_non_zero_fails_the_task_with_its_exit_code()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("echo 'cannot do it' >&2\nexit 3"));
        await worker.RegisteredAsync();

        await PushTaskAsync(setup.Redis.Db, "t-fail");
        var result = await FinalResultAsync(setup.Redis.Db, "t-fail");

        Assert.Equal("failed", result["status"]);
        Assert.Equal("Agent exited with code 3", result["error"]);
        Assert.Equal(3, (int)JsonNode.Parse(result["output"])!["exit_code"]!);
        Assert.Contains(await setup.Redis.Db.ListRangeAsync("results:t-fail:logs"), l => l.ToString().EndsWith("[stderr] cannot do it"));
    }

    [RedisFact]
    public async Task Sigterm_lets_a_running_task_finish_within_the_grace_period_then_the_worker_deregisters_and_exits_0()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("sleep 2\necho finished", ("SHUTDOWN_GRACE_SECONDS", "20")));
        await worker.RegisteredAsync();
        await PushTaskAsync(setup.Redis.Db, "t-graceful");
        await Eventually.TrueAsync(async () => await setup.Redis.Db.HashGetAsync("results:t-graceful", "status") == "in_progress", "the task did not start");

        await worker.TerminateAsync();
        var result = await FinalResultAsync(setup.Redis.Db, "t-graceful", seconds: 5);

        Assert.Equal(0, worker.ExitCode);
        Assert.Equal("completed", result["status"]);
        Assert.False(await setup.Redis.Db.KeyExistsAsync("agents:info:backend-test0001"));
        Assert.False(await setup.Redis.Db.SetContainsAsync("agents:all", "backend-test0001"));
    }

    [RedisFact]
    public async Task Sigterm_fails_a_task_still_running_after_the_grace_period_with_a_reason()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("trap '' TERM\nsleep 60", ("SHUTDOWN_GRACE_SECONDS", "1")));
        await worker.RegisteredAsync();
        await PushTaskAsync(setup.Redis.Db, "t-stubborn");
        await Eventually.TrueAsync(async () => await setup.Redis.Db.HashGetAsync("results:t-stubborn", "status") == "in_progress", "the task did not start");

        await worker.TerminateAsync();
        var result = await FinalResultAsync(setup.Redis.Db, "t-stubborn", seconds: 5);

        Assert.Equal(0, worker.ExitCode);
        Assert.Equal("failed", result["status"]);
        Assert.Contains("worker was stopped before the task finished", result["error"]);
        Assert.Equal(0, await setup.Redis.Db.ListLengthAsync("tasks:active:backend"));
    }

    [RedisFact]
    public async Task Health_is_0_while_the_worker_runs_and_registered_and_1_once_it_is_gone()
    {
        await using var setup = await StartAsync();
        var environment = setup.Environment("true");
        await using var worker = WorkerProcess.Start(environment);
        await worker.RegisteredAsync();

        var (running, runningOutput) = await WorkerProcess.RunAsync(environment, "health");
        await worker.TerminateAsync();
        var (stopped, stoppedOutput) = await WorkerProcess.RunAsync(environment, "health");

        Assert.True(running == 0, runningOutput);
        Assert.Equal(1, stopped);
        Assert.Contains("backend-test0001 is not registered", stoppedOutput);
    }

    [RedisFact]
    public async Task Health_is_1_when_redis_does_not_answer()
    {
        await using var setup = await StartAsync();
        var environment = setup.Environment("true", ("REDIS_URL", $"redis://127.0.0.1:{Orchestrator.Hosting.OrchestratorSiloHost.FreePort()}"));

        var (code, output) = await WorkerProcess.RunAsync(environment, "health");

        Assert.Equal(1, code);
        Assert.Contains("does not answer", output);
    }

    [Theory]
    [InlineData("DOMAIN_TYPE", "", "DOMAIN_TYPE is not set")]
    [InlineData("REDIS_URL", "", "REDIS_URL is not set")]
    [InlineData("REDIS_URL", "redis://", "REDIS_URL")]
    [InlineData("AGENT_ROLE", "boss", "AGENT_ROLE 'boss' is not domain or worker")]
    [InlineData("WORKER_CONCURRENCY", "zero", "WORKER_CONCURRENCY 'zero' is not a positive whole number")]
    [InlineData("WORKSPACE", "/nonexistent/workspace", "WORKSPACE '/nonexistent/workspace' is not a directory")]
    [InlineData("MERGE_MODE", "squash", "MERGE_MODE 'squash' is not merge or branch")]
    [InlineData("KEEP_MERGED_BRANCHES_DAYS", "-1", "KEEP_MERGED_BRANCHES_DAYS '-1' is not a whole number of days (0 or more)")]
    [InlineData("MAX_LINE_BYTES", "0", "MAX_LINE_BYTES '0' is not a positive whole number")]
    [InlineData("STALL_TIMEOUT_SECONDS", "0", "STALL_TIMEOUT_SECONDS '0' is not a positive whole number")]
    [InlineData("AGENT_USAGE_FORMAT", "xml", "AGENT_USAGE_FORMAT 'xml' is not none, claude-stream-json or codex-json")]
    [InlineData("AGENT_PRICES", "{\"default\":{\"input\":-3}}", "AGENT_PRICES the price of 'default' has a negative or non-finite value")]
    [InlineData("AGENT_PRICES", "{\"default\":{\"inptu\":3}}", "AGENT_PRICES is not a price table")]
    public async Task A_missing_or_invalid_setting_stops_the_worker_at_start_naming_it(string name, string value, string expected)
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var environment = new Dictionary<string, string>
        {
            ["REDIS_URL"] = "redis://127.0.0.1:1",
            ["DOMAIN_TYPE"] = "backend",
            ["WORKSPACE"] = dir.File("workspace"),
            [name] = value,
        };

        var (code, output) = await WorkerProcess.RunAsync(environment);

        Assert.Equal(2, code);
        Assert.StartsWith("error: ", output);
        Assert.Contains(expected, output);
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public async Task A_redis_that_never_answers_stops_the_worker_after_the_wait_with_a_clear_error()
    {
        using var dir = new TempDirectory();
        var port = Orchestrator.Hosting.OrchestratorSiloHost.FreePort();

        var (code, output) = await WorkerProcess.RunAsync(new Dictionary<string, string>
        {
            ["REDIS_URL"] = $"redis://127.0.0.1:{port}",
            ["DOMAIN_TYPE"] = "backend",
            ["WORKSPACE"] = dir.Path,
            ["REDIS_WAIT_SECONDS"] = "1",
        });

        Assert.Equal(3, code);
        Assert.Contains($"Redis at 127.0.0.1:{port} did not answer within 1 s", output);
    }

    [RedisFact]
    public async Task The_domain_template_wins_inside_the_worktree_and_never_reaches_the_workspace()
    {
        await using var setup = await StartAsync();
        var config = setup.Dir.File("agent-config");
        Directory.CreateDirectory(Path.Combine(config, ".claude", "agents"));
        File.WriteAllText(Path.Combine(config, "CLAUDE.md"), "template");
        File.WriteAllText(Path.Combine(config, ".claude", "agents", "api-worker.md"), "api worker");
        File.WriteAllText(Path.Combine(setup.Workspace, "CLAUDE.md"), "the user's own");
        await using var worker = WorkerProcess.Start(setup.Environment("cat CLAUDE.md .claude/agents/api-worker.md > seen.txt"));
        await worker.RegisteredAsync();

        await PushTaskAsync(setup.Redis.Db, "t-template");
        var result = await FinalResultAsync(setup.Redis.Db, "t-template");

        Assert.Equal("completed", result["status"]);
        Assert.Equal("templateapi worker", File.ReadAllText(Path.Combine(setup.Workspace, "seen.txt")));
        Assert.Equal(["seen.txt"], Files(result, "files_created"));
        Assert.Empty(Files(result, "files_modified"));
        Assert.Equal("the user's own", File.ReadAllText(Path.Combine(setup.Workspace, "CLAUDE.md")));
        Assert.False(Directory.Exists(Path.Combine(setup.Workspace, ".claude")));
    }

    [RedisFact]
    public async Task A_worker_that_joins_a_running_network_is_listed_healthy_and_completes_a_submitted_task()
    {
        await using var setup = await StartAsync();
        await using var worker = WorkerProcess.Start(setup.Environment("echo done > api.py"));
        await worker.RegisteredAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Redis:ConnectionString"] = setup.Redis.ConnectionString });

        var agents = await cluster.Client.ListAgentsAsync();
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Contains(agents, a => a.AgentId == "backend-test0001" && a.Healthy && a.DomainType == "backend");
        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal("backend-test0001", result.Subtasks.Single().AgentId);
        Assert.Contains("api.py", Orchestrator.Core.Aggregation.ResultAggregator.FilesOf(result.Subtasks.Single(), "files_created"));
    }
}
