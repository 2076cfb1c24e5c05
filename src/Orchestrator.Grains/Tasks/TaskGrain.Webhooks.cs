using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;

namespace Orchestrator.Grains.Tasks;

/// <summary>
/// Webhooks: once a final state is stored, it is handed to the task's <see cref="IWebhookGrain"/>, which stores the
/// delivery before it answers and sends it on its own turns. The hand-over runs beside this grain's turns (it is
/// reentrant), so the task's completion never waits for it.
/// </summary>
public sealed partial class TaskGrain
{
    /// <summary>How often a failed hand-over is tried again before the next activation of the task takes it up.</summary>
    private const int NotifyAttempts = 5;

    /// <summary>The completion already handed over (or being handed over) by this activation.</summary>
    private DateTimeOffset? _notifiedFor;

    private void NotifyIfFinished()
    {
        if (_purging || _stored is not { } stored || !stored.State.IsFinal() || S.Request?.NotifyUrl is not { } url || _notifiedFor == stored.CompletedAt)
        {
            return;
        }

        _notifiedFor = stored.CompletedAt;
        _ = NotifyAsync(url, stored);
    }

    private async Task NotifyAsync(string url, TaskView stored)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await GrainFactory.Reference<IWebhookGrain>(TaskId).Notify(url, stored);
                return;
            }
            catch (Exception e) when (attempt < NotifyAttempts)
            {
                LogNotifyRetry(e, TaskId, attempt);
                await Task.Delay(TimeSpan.FromSeconds(attempt), time);
            }
            catch (Exception e)
            {
                LogNotifyFailed(e, TaskId, attempt);
                if (_notifiedFor == stored.CompletedAt)
                {
                    _notifiedFor = null;
                }

                DeactivateOnIdle(); // the next activation hands it over again (the webhook grain ignores a repeat)
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: handing its webhook over failed (attempt {Attempt}); trying again")]
    private partial void LogNotifyRetry(Exception exception, string taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {TaskId}: handing its webhook over failed {Attempt} times; the task's next activation tries again")]
    private partial void LogNotifyFailed(Exception exception, string taskId, int attempt);
}
