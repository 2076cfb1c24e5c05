using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Webhooks;

/// <summary>A task's webhook deliveries as <c>status --json</c>, the HTTP API and the task view show them.</summary>
public static class WebhookJson
{
    /// <summary>The result with a <c>webhooks</c> list when the task notifies (left as it is otherwise, the seed's shape).</summary>
    public static JsonObject WithDeliveries(JsonObject result, TaskView task, IReadOnlyList<WebhookDelivery> deliveries)
    {
        if (task.NotifyUrl is not null)
        {
            result["webhooks"] = new JsonArray(deliveries.Select(d => (JsonNode?)new JsonObject
            {
                ["delivery_id"] = d.DeliveryId,
                ["url"] = d.Url,
                ["event"] = d.Event,
                ["status"] = d.State.ToString().ToLowerInvariant(),
                ["attempts"] = d.Attempts,
                ["last_status_code"] = d.LastStatusCode,
                ["last_error"] = d.LastError,
                ["created_at"] = d.CreatedAt.ToString("O"),
                ["next_attempt_at"] = d.NextAttemptAt?.ToString("O"),
                ["finished_at"] = d.FinishedAt?.ToString("O"),
            }).ToArray());
        }

        return result;
    }
}
