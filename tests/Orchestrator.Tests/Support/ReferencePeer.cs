using System.Text.Json.Nodes;
using StackExchange.Redis;

namespace Orchestrator.Tests.Support;

/// <summary>
/// What the reference network's Python runner and client do, as raw Redis commands: register a domain agent,
/// take a task, write its result and publish it. Our orchestrator must work with it unchanged.
/// </summary>
public sealed class ReferencePeer(IDatabase db)
{
    public static string Now => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff");

    /// <summary>Registers a domain agent as a reference container does; its heartbeat key lives <paramref name="ttl"/>.</summary>
    public async Task RegisterDomainAgentAsync(string agentId, string domainType, TimeSpan ttl)
    {
        await db.SetAddAsync("agents:all", agentId);
        await db.SetAddAsync("agents:domains", agentId);
        await db.SetAddAsync($"agents:domains:{domainType}", agentId);
        await db.HashSetAsync($"agents:info:{agentId}",
        [
            new("agent_id", agentId), new("role", "domain"), new("domain_type", domainType), new("status", "active"),
            new("container_id", ""), new("created_at", Now), new("last_heartbeat", Now),
        ]);
        await db.StringSetAsync($"agents:heartbeat:{agentId}", Now, ttl);
    }

    /// <summary>BRPOPLPUSH's effect: the oldest pending message moves to the active list; null when none waits.</summary>
    public async Task<string?> TakeAsync(string domain)
    {
        var raw = await db.ListRightPopLeftPushAsync($"tasks:pending:{domain}", $"tasks:active:{domain}");
        return raw.IsNull ? null : raw.ToString();
    }

    public async Task MarkInProgressAsync(string taskId) =>
        await db.HashSetAsync($"results:{taskId}", [new("status", "in_progress"), new("started_at", Now)]);

    /// <summary>The runner's end of a task: the result hash, LREM from the active list, the publish.</summary>
    public async Task FinishAsync(string domain, string raw, string status, JsonObject output, string error = "", bool publish = true)
    {
        var taskId = (string)JsonNode.Parse(raw)!["task_id"]!;
        var fields = new JsonObject
        {
            ["task_id"] = taskId,
            ["status"] = status,
            ["output"] = output.ToJsonString(),
            ["error"] = error,
            ["completed_at"] = Now,
        };
        await db.HashSetAsync($"results:{taskId}", fields.Select(f => new HashEntry(f.Key, (string)f.Value!)).ToArray());
        await db.ListRemoveAsync($"tasks:active:{domain}", raw, 1);
        if (publish)
        {
            await db.PublishAsync(RedisChannel.Literal($"results:{taskId}"), fields.ToJsonString());
        }
    }

    public static JsonObject Output(params string[] filesCreated) => new()
    {
        ["stdout"] = "done",
        ["files_created"] = new JsonArray(filesCreated.Select(f => (JsonNode?)f).ToArray()),
        ["files_modified"] = new JsonArray(),
    };

    /// <summary>The reference client's publish_task: a pending result, LPUSH to the domain's pending list, the notification.</summary>
    public async Task QueueTaskAsync(string domain, string taskId, JsonObject payload, int timeoutSeconds)
    {
        var message = new JsonObject
        {
            ["task_id"] = taskId, ["type"] = "task_assignment", ["source"] = "cli", ["destination"] = domain, ["timestamp"] = Now,
            ["payload"] = payload,
            ["metadata"] = new JsonObject { ["priority"] = "normal", ["timeout_seconds"] = timeoutSeconds },
        }.ToJsonString();
        await db.HashSetAsync($"results:{taskId}", [new("task_id", taskId), new("status", "pending")]);
        await db.ListLeftPushAsync($"tasks:pending:{domain}", message);
        await db.PublishAsync(RedisChannel.Literal($"notifications:{domain}"), message);
    }

    /// <summary>The reference client's wait for a result: the results hash once its status is final.</summary>
    public async Task<Dictionary<string, string>> FinalResultAsync(string taskId, int seconds = 30)
    {
        Dictionary<string, string> result = [];
        await Eventually.TrueAsync(async () =>
        {
            result = (await db.HashGetAllAsync($"results:{taskId}")).ToDictionary(f => f.Name.ToString(), f => f.Value.ToString());
            return result.GetValueOrDefault("status") is "completed" or "failed";
        }, $"results:{taskId} did not become final", seconds);
        return result;
    }
}
