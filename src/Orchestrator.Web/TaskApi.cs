using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Web;

/// <summary>
/// The HTTP API for clients that are not .NET: the same operations and validation as the CLI, results in the
/// seed's shape, live events as server-sent events, and every refusal as a problem-details body.
/// </summary>
public static partial class TaskApi
{
    public static void MapTaskApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/tasks", (HttpRequest request, OrchestratorClient client, CancellationToken ct) => Handle(async () =>
        {
            var submission = await SubmitRequest.ReadAsync(request, ct);
            var task = await client.SubmitAsync(submission, ct);
            return Results.Json(ResultAggregator.ToResultJson(task), statusCode: StatusCodes.Status201Created);
        })).RequireRateLimiting(WebLimits.Submissions);
        api.MapGet("/tasks", (OrchestratorClient client, int? limit) => Handle(async () =>
            Results.Json(new JsonArray((await client.ListTasksAsync(Math.Clamp(limit ?? 50, 1, 1000))).Select(t => (JsonNode?)Summary(t)).ToArray()))));
        api.MapGet("/tasks/{id}", (string id, OrchestratorClient client) => Handle(async () =>
        {
            var task = await client.GetAsync(id);
            var deliveries = task.NotifyUrl is null ? [] : await client.GetDeliveriesAsync(id);
            return Results.Json(WebhookJson.WithDeliveries(ResultAggregator.ToResultJson(task), task, deliveries));
        }));
        api.MapGet("/tasks/{id}/logs", (string id, OrchestratorClient client) => Handle(async () =>
            Results.Json((await client.GetLogsAsync(id)).Entries.Select(e => new { source = e.Source, line = e.Line }))));
        api.MapGet("/tasks/{id}/diff", (string id, string? domain, OrchestratorClient client) => Handle(async () =>
            Results.Json(DiffRecord.ToJson(id, await client.GetDiffAsync(id, domain)))));
        api.MapGet("/tasks/{id}/events", (string id, HttpContext context, OrchestratorClient client) => Handle(async () =>
        {
            await client.GetAsync(id); // 404 before the stream starts
            await StreamTaskAsync(context, client, id);
            return Results.Empty;
        })).RequireRateLimiting(WebLimits.EventStreams);
        api.MapPost("/tasks/{id}/cancel", (string id, OrchestratorClient client) => Handle(async () =>
            Results.Json(ResultAggregator.ToResultJson(await client.CancelAsync(id)))));
        api.MapPost("/tasks/{id}/retry", (string id, OrchestratorClient client) => Handle(async () =>
            Results.Json(ResultAggregator.ToResultJson(await client.RetryAsync(id))))).RequireRateLimiting(WebLimits.Submissions);
        api.MapGet("/domains", (OrchestratorClient client) => Handle(async () =>
            Results.Json((await client.ListDomainsAsync()).Select(Pool))));
        api.MapGet("/agents", (OrchestratorClient client) => Handle(async () =>
            Results.Json((await client.ListAgentsAsync()).Select(a => new
            {
                agent_id = a.AgentId, role = a.Role, domain_type = a.DomainType, status = a.Status, healthy = a.Healthy,
                container_id = a.ContainerId, created_at = a.CreatedAt, last_heartbeat = a.LastHeartbeat, concurrency = a.Concurrency,
            }))));
        api.MapGet("/events", (HttpContext context, OrchestratorClient client) => StreamOverviewAsync(context, client)).RequireRateLimiting(WebLimits.EventStreams);
    }

    /// <summary>Status changes and log lines of one task until it is final: <c>event: status|log|end</c>.</summary>
    private static async Task StreamTaskAsync(HttpContext context, OrchestratorClient client, string id)
    {
        StartEventStream(context);
        TaskView? last = null;
        await foreach (var update in client.WatchAsync(id, context.RequestAborted))
        {
            last = update.Task;
            if (update.ChangedSubtasks.Count > 0 || update.Task.State.IsFinal())
            {
                await WriteEventAsync(context, "status", ResultAggregator.ToResultJson(update.Task));
            }

            foreach (var entry in update.Logs)
            {
                await WriteEventAsync(context, "log", new JsonObject { ["source"] = entry.Source, ["line"] = entry.Line });
            }
        }

        if (last is not null)
        {
            await WriteEventAsync(context, "end", ResultAggregator.ToResultJson(last));
        }
    }

    /// <summary>The task view's overview (tasks, domains, agents), sent again every two seconds while the page is open.</summary>
    private static async Task StreamOverviewAsync(HttpContext context, OrchestratorClient client)
    {
        StartEventStream(context);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        do
        {
            var tasks = await client.ListTasksAsync(50);
            var domains = await client.ListDomainsAsync();
            var agents = await client.ListAgentsAsync();
            await WriteEventAsync(context, "overview", new JsonObject
            {
                ["tasks"] = new JsonArray(tasks.Select(t => (JsonNode?)Summary(t)).ToArray()),
                ["domains"] = JsonSerializer.SerializeToNode(domains.Select(Pool)),
                ["agents"] = new JsonArray(agents.Select(a => (JsonNode?)new JsonObject
                {
                    ["agent_id"] = a.AgentId, ["role"] = a.Role, ["domain_type"] = a.DomainType, ["status"] = a.Status, ["healthy"] = a.Healthy,
                }).ToArray()),
            });
        }
        while (await timer.WaitForNextTickAsync(context.RequestAborted).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default));
    }

    private static JsonObject Summary(TaskView task) => new()
    {
        ["task_id"] = task.TaskId,
        ["description"] = task.Description,
        ["status"] = task.State.ToWire(),
        ["priority"] = task.Priority.ToWire(),
        ["domains"] = new JsonArray(task.Subtasks.Select(s => (JsonNode?)new JsonObject { ["domain"] = s.Domain, ["status"] = s.State.ToWire() }).ToArray()),
        ["created_at"] = task.CreatedAt.ToString("O"),
        ["completed_at"] = task.CompletedAt?.ToString("O"),
        ["duration_seconds"] = Math.Round(((task.CompletedAt ?? DateTimeOffset.UtcNow) - task.CreatedAt).TotalSeconds, 1),
    };

    private static object Pool(DomainPoolView pool) => new
    {
        domain_type = pool.DomainType,
        queued = new { high = pool.Queue.QueuedHigh, normal = pool.Queue.QueuedNormal, low = pool.Queue.QueuedLow },
        in_flight = pool.Queue.InFlight,
        capacity = pool.Queue.Capacity,
        domains = pool.Domains.Select(d => new
        {
            domain_id = d.DomainId, status = d.Status.ToString().ToLowerInvariant(), healthy = d.Healthy, managed = d.Managed,
            created_at = d.CreatedAt, concurrency = d.Concurrency, detail = d.Detail,
        }),
    };

    private static void StartEventStream(HttpContext context)
    {
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
    }

    private static async Task WriteEventAsync(HttpContext context, string name, JsonNode data)
    {
        await context.Response.WriteAsync($"event: {name}\ndata: {data.ToJsonString()}\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>Known refusals become problem details with 400/404/409/413/503; anything else a 500 without internals.</summary>
    private static async Task<IResult> Handle(Func<Task<IResult>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (Unwrap(e) is InvalidTaskRequestException or ArgumentException)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid task", detail: Unwrap(e).Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel stops reading at Web:Limits:MaxRequestBodyBytes, chunked bodies included.
            return Results.Problem(statusCode: e.StatusCode, title: "Request body too large", detail: $"{e.Message} (Web:Limits:MaxRequestBodyBytes)");
        }
        catch (Exception e) when (Unwrap(e) is UnknownTaskException)
        {
            return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown task", detail: Unwrap(e).Message);
        }
        catch (Exception e) when (Unwrap(e) is TaskConflictException)
        {
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: Unwrap(e).Message);
        }
        catch (Exception e) when (Unwrap(e) is DomainSpawnException)
        {
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No domain available", detail: Unwrap(e).Message);
        }
    }

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerException!) : e;
}
