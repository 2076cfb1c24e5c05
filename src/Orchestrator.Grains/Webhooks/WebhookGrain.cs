using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Transport;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Grains.Webhooks;

[GenerateSerializer, Alias("orchestrator.webhook-grain-state")]
public sealed class WebhookGrainState
{
    [Id(0)] public List<StoredWebhookDelivery> Deliveries { get; set; } = [];
}

/// <summary>A delivery with what it sends: the full URL (credentials and query included) and the exact body.</summary>
[GenerateSerializer, Alias("orchestrator.stored-webhook-delivery")]
public sealed record StoredWebhookDelivery(
    [property: Id(0)] WebhookDelivery View,
    [property: Id(1)] string Url,
    [property: Id(2)] byte[] Body);

/// <summary>
/// The webhook deliveries of one task. A delivery is stored before <see cref="Notify"/> returns, then sent by a grain
/// timer off the task's turn, retried with backoff until a 2xx, a final refusal, or the attempts or time run out. A
/// reminder stays registered while a delivery is pending, so a silo restart resumes it. Not reentrant: one attempt at
/// a time; the view interleaves.
/// </summary>
public sealed partial class WebhookGrain(
    [PersistentState(WebhookGrain.StateName, StorageNames.Orchestrator)] IPersistentState<WebhookGrainState> state,
    WebhookSender sender,
    ITaskRetention retention,
    IOptions<WebhookOptions> options,
    IOptions<OrchestratorOptions> orchestrator,
    [FromKeyedServices(TaskClock.Key)] TimeProvider time,
    ILogger<WebhookGrain> logger) : Grain, IWebhookGrain, IRemindable
{
    public const string StateName = "webhooks";

    private const string ResumeReminder = "resume";

    /// <summary>The longest a waiter is held, whatever it asks for.</summary>
    private static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(30);

    private IGrainTimer? _timer;

    /// <summary>Completed (and replaced) after every stored change, for <see cref="WaitForDelivery"/>.</summary>
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Kept: Orleans makes a new string of the key on each call.
    private string TaskId => field ??= this.GetPrimaryKeyString();

    private List<StoredWebhookDelivery> Deliveries => state.State.Deliveries;

    private bool AnyPending => Deliveries.Any(d => d.View.State == WebhookDeliveryState.Pending);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        ScheduleNext();
        return Task.CompletedTask;
    }

    public async Task Notify(string url, TaskView task)
    {
        if (task.CompletedAt is not { } completedAt || Deliveries.Any(d => d.View.TaskCompletedAt == completedAt))
        {
            await EnsureReminderAsync(); // a repeat after a failed reply: the stored delivery may still lack its reminder
            return;
        }

        var now = time.GetUtcNow();
        var delivery = new WebhookDelivery
        {
            DeliveryId = Guid.NewGuid().ToString(),
            Url = WebhookAddress.Redacted(new Uri(url)),
            Event = WebhookSignature.TaskFinished,
            State = WebhookDeliveryState.Pending,
            CreatedAt = now,
            NextAttemptAt = now,
            TaskCompletedAt = completedAt,
        };
        Deliveries.Add(new StoredWebhookDelivery(delivery, url, Encoding.UTF8.GetBytes(ResultAggregator.ToResultJson(task).ToJsonString())));
        await state.WriteStateAsync();
        Changed();
        await EnsureReminderAsync();
        ScheduleNext();
    }

    public Task<IReadOnlyList<WebhookDelivery>> GetDeliveries() => Task.FromResult(Views());

    public async Task<IReadOnlyList<WebhookDelivery>> WaitForDelivery(DateTimeOffset taskCompletedAt, TimeSpan maxWait)
    {
        if (!Deliveries.Any(d => d.View.TaskCompletedAt == taskCompletedAt && d.View.State != WebhookDeliveryState.Pending))
        {
            await ClientWaits.UntilAsync(_changed.Task, maxWait, LongestWait, time);
        }

        return Views();
    }

    private IReadOnlyList<WebhookDelivery> Views() => Deliveries.Select(d => d.View).ToArray();

    private void Changed()
    {
        var changed = _changed;
        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Activating for this call scheduled what is pending (after a restart); an activation that lived on gets its
        // timer set again, in case an attempt's write failed and left it unset. The reminder goes once nothing is pending.
        if (AnyPending)
        {
            ScheduleNext();
        }
        else if (await this.GetReminder(ResumeReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private async Task EnsureReminderAsync()
    {
        if (AnyPending)
        {
            await this.RegisterOrUpdateReminder(ResumeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }
    }

    /// <summary>One timer, due when the earliest pending delivery is.</summary>
    private void ScheduleNext()
    {
        var next = Deliveries.Where(d => d.View.State == WebhookDeliveryState.Pending).Min(d => d.View.NextAttemptAt);
        var due = next is { } at ? Max(at - time.GetUtcNow(), TimeSpan.Zero) : Timeout.InfiniteTimeSpan;
        if (_timer is null)
        {
            _timer = this.RegisterGrainTimer(AttemptDueAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan));
        }
        else
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task AttemptDueAsync(CancellationToken cancellationToken)
    {
        try
        {
            var due = Deliveries.Where(d => d.View.State == WebhookDeliveryState.Pending && d.View.NextAttemptAt <= time.GetUtcNow()).ToArray();
            foreach (var delivery in due)
            {
                var result = await sender.SendAsync(delivery.Url, delivery.View.DeliveryId, delivery.View.Event, delivery.Body, cancellationToken);
                Deliveries[Deliveries.IndexOf(delivery)] = delivery with { View = After(delivery.View, result) };
            }

            // Sent but not stored (a crash here) is sent again after the restart, with the same delivery id.
            await state.WriteStateAsync(cancellationToken);
            Changed();
            if (!AnyPending)
            {
                await FinishedAsync();
            }
        }
        finally
        {
            ScheduleNext();
        }
    }

    /// <summary>The delivery after one attempt: delivered, final, or due again after the backoff while attempts and time remain.</summary>
    private WebhookDelivery After(WebhookDelivery delivery, WebhookAttemptResult result)
    {
        var now = time.GetUtcNow();
        var attempts = delivery.Attempts + 1;
        var settings = options.Value;
        var next = now + settings.Retry.BackoffBefore(attempts + 1);
        var outcome = result.Outcome switch
        {
            WebhookOutcome.Delivered => WebhookDeliveryState.Delivered,
            WebhookOutcome.Retry when attempts < settings.Retry.MaxAttempts && next <= delivery.CreatedAt + settings.MaxDuration => WebhookDeliveryState.Pending,
            _ => WebhookDeliveryState.Failed,
        };
        var url = delivery.Url;
        switch (outcome)
        {
            case WebhookDeliveryState.Delivered:
                LogDelivered(TaskId, delivery.DeliveryId, url, attempts);
                break;
            case WebhookDeliveryState.Pending:
                LogRetrying(TaskId, delivery.DeliveryId, url, attempts, result.Error, next);
                break;
            default:
                LogFailed(TaskId, delivery.DeliveryId, url, attempts, result.Error);
                break;
        }

        return delivery with
        {
            State = outcome,
            Attempts = attempts,
            LastStatusCode = result.StatusCode,
            LastError = result.Error,
            NextAttemptAt = outcome == WebhookDeliveryState.Pending ? next : null,
            FinishedAt = outcome == WebhookDeliveryState.Pending ? null : now,
        };
    }

    /// <summary>
    /// Nothing is pending: the reminder goes, and these records expire with the task's (its expiry was set before
    /// this state existed, so it is set here again).
    /// </summary>
    private async Task FinishedAsync()
    {
        if (await this.GetReminder(ResumeReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        var keep = orchestrator.Value.Retention;
        if (!keep.KeepsForever && Deliveries.Count > 0)
        {
            var expiresAt = Deliveries.Max(d => d.View.TaskCompletedAt) + keep.FinishedTasks;
            var after = expiresAt - time.GetUtcNow();
            await retention.ExpireAsync(new TaskRecords([], [], [new StoredState(this.GetGrainId(), StateName)]), after > TimeSpan.Zero ? after : TimeSpan.FromSeconds(1));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {DeliveryId} of task {TaskId} delivered to {Url} after {Attempts} attempt(s)")]
    private partial void LogDelivered(string taskId, string deliveryId, string url, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {DeliveryId} of task {TaskId} to {Url}: attempt {Attempts} failed ({Error}); next at {NextAttemptAt}")]
    private partial void LogRetrying(string taskId, string deliveryId, string url, int attempts, string? error, DateTimeOffset nextAttemptAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {DeliveryId} of task {TaskId} to {Url} failed for good after {Attempts} attempt(s): {Error}")]
    private partial void LogFailed(string taskId, string deliveryId, string url, int attempts, string? error);
}
