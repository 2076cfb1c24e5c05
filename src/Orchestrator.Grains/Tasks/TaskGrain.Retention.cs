using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Transport;

namespace Orchestrator.Grains.Tasks;

/// <summary>
/// Retention: a finished task's records — its and its subtasks' grain states, logs and results — expire
/// <see cref="RetentionOptions.FinishedTasks"/> after it finished (the store drops them), or go at once when pruned.
/// </summary>
public sealed partial class TaskGrain
{
    /// <summary>Set while the task is removed: nothing else may change or write it meanwhile.</summary>
    private bool _purging;

    private RetentionOptions Retention => options.Value.Retention;

    private ITaskIndexGrain Index => GrainFactory.Reference<ITaskIndexGrain>(0);

    public async Task<PurgeOutcome> Purge(DateTimeOffset finishedBy)
    {
        if (S.Request is null || _purging)
        {
            DeactivateOnIdle();
            return new PurgeOutcome(Removed: false, Exists: false, TaskState.Pending, null);
        }

        if (!S.State.IsFinal() || S.CompletedAt is not { } completedAt || completedAt > finishedBy)
        {
            return new PurgeOutcome(Removed: false, Exists: true, S.State, S.CompletedAt);
        }

        var outcome = new PurgeOutcome(Removed: true, Exists: true, S.State, completedAt);
        return await RemoveAsync() ? outcome : outcome with { Removed = false };
    }

    /// <summary>
    /// A finished task read again (its subtasks agree it is finished): its records' expiry brought in line with the
    /// setting, which may have changed since, and set again where it was recorded.
    /// </summary>
    private async Task OnFinishedReadAsync()
    {
        // The index may have missed the one-way notice when the task finished (a silo died); it costs one message.
        _ = Index.Finished(TaskId, S.CompletedAt);
        if (Retention.KeepsForever)
        {
            if (S.ExpiresAt is not null)
            {
                await LiftExpiryAsync();
                await StoreAsync();
            }
        }
        else if ((S.ExpiresAt ?? S.CompletedAt + Retention.FinishedTasks) <= time.GetUtcNow())
        {
            await RemoveAsync(); // already past the period: an expiry now would race the write that records it
        }
        else if (S.ExpiresAt is { } expiresAt)
        {
            try
            {
                await ExpireAsync(expiresAt); // again: the write that stored it went beside it, and may have landed alone
            }
            catch (Exception e)
            {
                LogExpiryNotSet(e, TaskId); // reading the task must not fail for it; the next activation tries again
            }
        }
        else
        {
            await StoreAsync(); // finished before retention was on, or while it was off
        }
    }

    /// <summary>
    /// Called at each write: a task that just became final records when its records expire, and their expiry is sent
    /// beside that write rather than a round trip before it (Redis keeps a key's expiry across HSET, whichever lands
    /// first). Should the expiry fail and the write land, the next activation sets it again from the stored time.
    /// </summary>
    private Task ExpireIfFinishedAsync()
    {
        if (!S.State.IsFinal() || S.ExpiresAt is not null || Retention.KeepsForever || S.CompletedAt is not { } completedAt)
        {
            return Task.CompletedTask;
        }

        S.ExpiresAt = completedAt + Retention.FinishedTasks;
        return ExpireAsync(S.ExpiresAt.Value);
    }

    private async Task ExpireAsync(DateTimeOffset expiresAt)
    {
        try
        {
            await retention.ExpireAsync(Records(), expiresAt - time.GetUtcNow());
        }
        catch
        {
            DeactivateOnIdle(); // the next activation reads when it expires and sets it again
            throw;
        }
    }

    /// <summary>The task runs again (retry), or retention is off now: its records must outlive it, and later writes keep an expiry unless it is lifted.</summary>
    private async Task LiftExpiryAsync()
    {
        if (S.ExpiresAt is not null)
        {
            await retention.KeepAsync(Records());
            S.ExpiresAt = null;
        }
    }

    /// <summary>
    /// Deletes the task's subtasks and records first and the task itself last: a removal cut short is finished by the
    /// next one. A subtask that is not final (this copy of the task is older than it) keeps the whole task.
    /// </summary>
    private async Task<bool> RemoveAsync()
    {
        var completedAt = S.CompletedAt;
        _purging = true;
        try
        {
            var records = Records();
            var removed = await Task.WhenAll(S.Subtasks.Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).Purge()));
            if (!removed.All(r => r))
            {
                _purging = false;
                LogKeptRunning(TaskId);
                DeactivateOnIdle(); // the next activation reads the task as stored, and its subtasks report on
                return false;
            }

            await retention.DeleteAsync(records);
            await StoredState.ClearStateAsync();
        }
        catch
        {
            _purging = false;
            throw;
        }

        LogRemoved(TaskId, completedAt);
        WakeWatchers();
        DeactivateOnIdle();
        return true;
    }

    /// <summary>
    /// Every record the task keeps in the store: its own and its subtasks' logs, its subtasks' results and grain states
    /// (their diffs among them), and its webhook's state when it has a webhook (only then is one stored).
    /// </summary>
    private TaskRecords Records() => new(
        [TaskId, .. S.Subtasks.Select(s => s.TaskId)],
        [.. S.Subtasks.Select(s => s.TaskId)],
        [
            new StoredState(this.GetGrainId(), StateName),
            .. S.Request?.NotifyUrl is null ? [] : new[] { new StoredState(GrainFactory.Reference<IWebhookGrain>(TaskId).GetGrainId(), Webhooks.WebhookGrain.StateName) },
            .. S.Subtasks.Select(s => new StoredState(GrainFactory.Reference<ISubtaskGrain>(s.TaskId).GetGrainId(), SubtaskGrain.StateName)),
            .. S.Subtasks.Select(s => new StoredState(GrainFactory.Reference<ISubtaskGrain>(s.TaskId).GetGrainId(), SubtaskGrain.DiffStateName)),
        ]);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The expiry of task {TaskId}'s records could not be set again; the task's next activation tries again")]
    private partial void LogExpiryNotSet(Exception exception, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} is kept: one of its subtasks runs again although the task's stored state says it finished")]
    private partial void LogKeptRunning(string taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId}, finished at {CompletedAt}, is removed with its logs and results")]
    private partial void LogRemoved(string taskId, DateTimeOffset? completedAt);
}
