using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;

namespace Orchestrator.Grains.Tasks;

/// <summary>
/// Webhooks: once a final state is stored, it is handed to the task's <see cref="IWebhookGrain"/>, which stores the
/// delivery before it answers and sends it on its own turns. The hand-over is part of the change that made the task
/// final: the report that finished it fails if the hand-over does, and is said again (a subtask repeats its final
/// report until acknowledged, and an activation of a finished task hands over again), so no completion is left
/// without its delivery. The webhook grain ignores a repeat.
/// </summary>
public sealed partial class TaskGrain
{
    /// <summary>The completion this activation handed over.</summary>
    private DateTimeOffset? _notifiedFor;

    private async Task NotifyIfFinishedAsync()
    {
        if (_purging || _stored is not { } stored || !stored.State.IsFinal() || S.Request?.NotifyUrl is not { } url || _notifiedFor == stored.CompletedAt)
        {
            return;
        }

        try
        {
            await GrainFactory.Reference<IWebhookGrain>(TaskId).Notify(url, stored);
            _notifiedFor = stored.CompletedAt;
        }
        catch (Exception e)
        {
            LogNotifyFailed(e, TaskId);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Task {TaskId}: handing its webhook over failed; the report that finished it is said again, or the task's next activation hands it over")]
    private partial void LogNotifyFailed(Exception exception, string taskId);
}
