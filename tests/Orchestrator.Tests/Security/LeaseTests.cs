using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Protocol;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Security;

/// <summary>Results count only from the holder of the attempt: the worker that took the message with its lease.</summary>
public sealed class LeaseTests
{
    private static async Task<(RedisServer Redis, OrchestratorCluster Cluster)> StartAsync()
    {
        var redis = await RedisServer.StartAsync();
        var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            // The honest agent waits for the test's go-ahead, so that forgeries arrive while its attempt is in flight.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
                for i in $(seq 1 600); do [ -f '{dir.File("release")}' ] && break; sleep 0.1; done
                mkdir -p out && echo honest > "out/$DOMAIN_TYPE.txt"
                """),
        });
        return (redis, cluster);
    }

    private const string ForgedOutput = """{"files_created":["forged.txt"]}""";

    /// <summary>What anyone with write access to <c>results:*</c> can do: write the hash and publish it, as a runner does.</summary>
    private static async Task ForgeResultAsync(IDatabase db, string subtaskId, string? proof, IReadOnlyDictionary<string, string>? extra = null)
    {
        var fields = new JsonObject
        {
            ["task_id"] = subtaskId,
            ["status"] = "completed",
            ["output"] = ForgedOutput,
            ["error"] = "",
            ["completed_at"] = ReferencePeer.Now,
            ["agent_id"] = "backend-f0rged01",
        };
        if (proof is not null)
        {
            fields["lease_proof"] = proof;
        }

        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            fields[name] = value;
        }

        await db.HashSetAsync($"results:{subtaskId}", fields.Select(f => new HashEntry(f.Key, (string)f.Value!)).ToArray());
        await db.PublishAsync(RedisChannel.Literal($"results:{subtaskId}"), fields.ToJsonString());
    }

    private static async Task<string> LeaseInQueueAsync(IDatabase db, string domain)
    {
        string? lease = null;
        await Eventually.TrueAsync(async () =>
        {
            var messages = (await db.ListRangeAsync($"tasks:pending:{domain}")).Concat(await db.ListRangeAsync($"tasks:active:{domain}"));
            lease = messages.Select(m => (string?)JsonNode.Parse(m.ToString())!["metadata"]!["lease"]).FirstOrDefault(l => l is not null);
            return lease is not null;
        }, $"no message of {domain} with a lease");
        return lease!;
    }

    private static Task WaitForLogAsync(OrchestratorCluster cluster, string taskId, string text) =>
        Eventually.TrueAsync(async () => (await cluster.Client.GetLogsAsync(taskId)).Entries.Any(e => e.Line.Contains(text)),
            $"the task's log never said '{text}'");

    [RedisFact]
    public async Task A_result_forged_without_a_lease_does_not_complete_a_running_subtask_and_the_honest_one_does()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
            var subtask = task.Subtasks.Single();
            await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

            await ForgeResultAsync(redis.Db, subtask.TaskId, proof: null);
            await WaitForLogAsync(cluster, task.TaskId, "Ignored a result from backend-f0rged01: it carries no lease proof");
            Assert.Equal(SubtaskState.InProgress, (await cluster.Client.GetAsync(task.TaskId)).Subtasks.Single().State);

            File.WriteAllText(cluster.Dir.File("release"), "");
            var result = await cluster.ResultAsync(task.TaskId);

            Assert.Equal(TaskState.Completed, result.State);
            Assert.DoesNotContain("forged.txt", ResultAggregator.FilesOf(result.Subtasks.Single(), "files_created"));
            Assert.Contains("out/backend.txt", ResultAggregator.FilesOf(result.Subtasks.Single(), "files_created"));
        }
    }

    [RedisFact]
    public async Task A_result_carrying_another_domains_lease_is_ignored()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            var task = await cluster.Client.SubmitAsync(new TaskSubmission
            {
                Description = "Create user registration with form and API",
                Requirements = ["POST /api/users/register", "Build registration form component"],
            });
            var backend = task.Subtasks.Single(s => s.Domain == "backend");
            var frontendLease = await LeaseInQueueAsync(redis.Db, "frontend"); // what a frontend worker can read
            await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single(s => s.Domain == "backend").State == SubtaskState.InProgress);

            await ForgeResultAsync(redis.Db, backend.TaskId, LeaseProof.ForResult(frontendLease, backend.TaskId, true, ForgedOutput, null));
            await WaitForLogAsync(cluster, task.TaskId, "Ignored a result from backend-f0rged01: its lease proof is not that of attempt 1");

            File.WriteAllText(cluster.Dir.File("release"), "");
            var result = await cluster.ResultAsync(task.TaskId);
            Assert.Equal(TaskState.Completed, result.State);
            Assert.DoesNotContain("forged.txt", ResultAggregator.FilesOf(result.Subtasks.Single(s => s.Domain == "backend"), "files_created"));
        }
    }

    [RedisFact]
    public async Task Our_worker_sends_its_diff_with_its_proof_in_the_result_hash_and_the_silo_keeps_it()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            File.WriteAllText(cluster.Dir.File("release"), "");
            var task = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] })).TaskId);

            var hash = (await redis.Db.HashGetAllAsync($"results:{task.Subtasks.Single().TaskId}")).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
            Assert.Equal("out/backend.txt", (string?)JsonNode.Parse(hash["diff"])!["files"]![0]!["path"]);
            Assert.NotEmpty(hash["diff_proof"]);
            var diff = Assert.Single(await cluster.Client.GetDiffAsync(task.TaskId));
            Assert.Equal("backend", diff.Domain);
            Assert.Contains("+honest", Assert.Single(diff.Files).Patch);
        }
    }

    [RedisFact]
    public async Task A_diff_without_its_own_proof_is_not_kept_though_the_result_it_came_with_counts()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
            var subtask = task.Subtasks.Single();
            var lease = await LeaseInQueueAsync(redis.Db, "backend");
            await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
            var planted = DiffRecord.ToJson(new DomainDiff { Domain = "backend", Files = [new FileDiff { Path = "planted.txt", Status = "added", Patch = "+planted" }] }).ToJsonString();

            await ForgeResultAsync(redis.Db, subtask.TaskId, LeaseProof.ForResult(lease, subtask.TaskId, true, ForgedOutput, null),
                new Dictionary<string, string> { ["diff"] = planted, ["diff_proof"] = LeaseProof.ForResult(lease, subtask.TaskId, true, ForgedOutput, null) });
            await WaitForLogAsync(cluster, task.TaskId, "Ignored a diff from backend-f0rged01: its diff proof is not that of attempt 1");

            Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(task.TaskId)).State);
            Assert.Empty(await cluster.Client.GetDiffAsync(task.TaskId));
            File.WriteAllText(cluster.Dir.File("release"), "");
        }
    }

    [RedisFact]
    public async Task A_start_notice_without_the_lease_does_not_claim_the_attempt()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
            var subtask = task.Subtasks.Single();
            await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);

            await redis.Db.PublishAsync(RedisChannel.Literal("orchestrator:events:started"),
                new JsonObject { ["task_id"] = subtask.TaskId, ["agent_id"] = "backend-f0rged01", ["started_at"] = ReferencePeer.Now }.ToJsonString());
            await WaitForLogAsync(cluster, task.TaskId, "Ignored a start notice from backend-f0rged01");

            Assert.NotEqual("backend-f0rged01", (await cluster.Client.GetAsync(task.TaskId)).Subtasks.Single().AgentId);
            File.WriteAllText(cluster.Dir.File("release"), "");
            Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(task.TaskId)).State);
        }
    }

    [RedisFact]
    public async Task A_proof_sniffed_from_a_start_notice_cannot_complete_the_attempt()
    {
        var (redis, cluster) = await StartAsync();
        await using (redis)
        await using (cluster)
        {
            var notices = new List<string>();
            await redis.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal("orchestrator:events:started"), (_, m) => { lock (notices) notices.Add(m.ToString()); });
            var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
            var subtask = task.Subtasks.Single();
            await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
            await Eventually.TrueAsync(() => { lock (notices) return notices.Count > 0; }, "no start notice was published");
            var sniffed = (string)JsonNode.Parse(notices[0])!["lease_proof"]!;
            Assert.DoesNotContain(await LeaseInQueueAsync(redis.Db, "backend"), notices[0]); // the lease itself never leaves its queue

            await ForgeResultAsync(redis.Db, subtask.TaskId, sniffed);
            await WaitForLogAsync(cluster, task.TaskId, "Ignored a result from backend-f0rged01: its lease proof is not that of attempt 1");

            File.WriteAllText(cluster.Dir.File("release"), "");
            var result = await cluster.ResultAsync(task.TaskId);
            Assert.DoesNotContain("forged.txt", ResultAggregator.FilesOf(result.Subtasks.Single(), "files_created"));
        }
    }
}
