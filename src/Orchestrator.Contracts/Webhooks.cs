using Orleans.Concurrency;

namespace Orchestrator.Contracts;

/// <summary>Where one webhook delivery stands.</summary>
[GenerateSerializer, Alias("orchestrator.webhook-delivery-state")]
public enum WebhookDeliveryState
{
    Pending = 0,
    Delivered = 1,
    Failed = 2,
}

/// <summary>One webhook delivery of a task's final state, as shown to users: its URL without credentials or query.</summary>
[GenerateSerializer, Alias("orchestrator.webhook-delivery")]
public sealed record WebhookDelivery
{
    /// <summary>The <c>X-Orchestrator-Delivery</c> header: the same on every attempt of this delivery.</summary>
    [Id(0)] public required string DeliveryId { get; init; }
    [Id(1)] public required string Url { get; init; }
    [Id(2)] public required string Event { get; init; }
    [Id(3)] public WebhookDeliveryState State { get; init; }
    [Id(4)] public int Attempts { get; init; }
    [Id(5)] public int? LastStatusCode { get; init; }
    [Id(6)] public string? LastError { get; init; }
    [Id(7)] public DateTimeOffset CreatedAt { get; init; }
    /// <summary>When the next attempt is due, while pending.</summary>
    [Id(8)] public DateTimeOffset? NextAttemptAt { get; init; }
    [Id(9)] public DateTimeOffset? FinishedAt { get; init; }
    /// <summary>The task's completion this delivery reports (a retried task that finishes again is delivered again).</summary>
    [Id(10)] public DateTimeOffset TaskCompletedAt { get; init; }
}

/// <summary>
/// The webhook deliveries of one task (keyed by the task id): each persisted before it is acknowledged, sent off the
/// task's turn, retried with backoff by a timer, and resumed after a restart by a reminder.
/// </summary>
[Alias("orchestrator.IWebhookGrain")]
public interface IWebhookGrain : IGrainWithStringKey
{
    /// <summary>
    /// Stores a delivery of <paramref name="task"/>'s final state to <paramref name="url"/> and returns once it is
    /// stored; idempotent per completion of the task. The task grain calls it after it stored that state.
    /// </summary>
    [Alias("Notify")] Task Notify(string url, TaskView task);

    /// <summary>
    /// The task's deliveries once the delivery of the completion at <paramref name="taskCompletedAt"/> has ended
    /// (delivered or failed), or as they stand after <paramref name="maxWait"/> (at most 30 s).
    /// </summary>
    [ClientCallable, Alias("WaitForDelivery"), AlwaysInterleave] Task<IReadOnlyList<WebhookDelivery>> WaitForDelivery(DateTimeOffset taskCompletedAt, TimeSpan maxWait);

    /// <summary>The task's deliveries, oldest first.</summary>
    [ClientCallable, Alias("GetDeliveries"), ReadOnly, AlwaysInterleave] Task<IReadOnlyList<WebhookDelivery>> GetDeliveries();
}
