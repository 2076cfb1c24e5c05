using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orleans.Storage;

namespace Orchestrator.Grains.Tasks;

/// <summary>
/// Domains that start after others. A dependent subtask is not handed to its grain (nor queued with its scheduler)
/// until every domain it starts after has completed: until then its state — waiting, or failed by a dependency — is
/// the task's own, stored with it, and survives a restart as the task does.
/// </summary>
public sealed partial class TaskGrain
{
    /// <summary>Dependents whose start this activation has asked for and not yet heard back on (the grain is reentrant).</summary>
    private readonly HashSet<string> _starting = [];

    /// <summary>A dependent never handed to its grain: only this task holds its state (its revision stays 0 until the grain's first view).</summary>
    private static bool NeverStarted(SubtaskView subtask) => subtask.After.Count > 0 && subtask.Revision == 0;

    private static bool Waiting(SubtaskView subtask) => NeverStarted(subtask) && subtask.State == SubtaskState.Pending;

    private SubtaskView[] DependenciesOf(SubtaskView subtask) =>
        subtask.After.Select(domain => S.Subtasks.Single(s => s.Domain == domain)).ToArray();

    private IReadOnlyList<string> Unmet(SubtaskView subtask) =>
        DependenciesOf(subtask).Where(d => d.State != SubtaskState.Completed).Select(d => d.Domain).ToArray();

    /// <summary>Tries again to start dependents whose start failed; disposed once none is left to start.</summary>
    private IGrainTimer? _startAgain;

    /// <summary>
    /// Starts the waiting dependents whose dependencies all completed. Safe to call on every change and at activation:
    /// the subtask grain's start is idempotent, and a dependent stays waiting in the stored state until its grain's
    /// view is applied, so a restart in between starts it again rather than losing it. A start that fails is not
    /// the caller's failure (the dependency's completion is stored): a timer tries again while this task is active.
    /// </summary>
    private async Task StartDependentsAsync()
    {
        var ready = S.Subtasks.Where(s => Waiting(s) && Unmet(s).Count == 0 && _starting.Add(s.TaskId)).ToArray();
        if (ready.Length == 0)
        {
            return;
        }

        try
        {
            foreach (var subtask in ready)
            {
                LogDependentStarting(TaskId, subtask.Domain, string.Join(",", subtask.After));
                await AddLogAsync($"Starting {subtask.Domain}: {string.Join(", ", subtask.After)} completed");
            }

            // A cancel may have come in meanwhile (this grain is reentrant): it ended the waiting ones, which stay ended.
            var starting = ready.Where(r => !S.CancelRequested && S.Subtasks.Single(s => s.TaskId == r.TaskId) is var now && Waiting(now)).Select(r => r.TaskId).ToHashSet();
            await StartSubtasksAsync(starting);
            if (S.CancelRequested)
            {
                // ... or while they started: their grains are cancelled like every other part's.
                await Task.WhenAll(starting.Select(id => GrainFactory.Reference<ISubtaskGrain>(id).Cancel()));
            }
        }
        catch (Exception e) when (e is not InconsistentStateException) // an etag conflict deactivates this grain, as everywhere
        {
            LogDependentStartFailed(e, TaskId, string.Join(",", ready.Select(s => s.Domain)));
            var every = options.Value.Retry.InitialBackoff;
            _startAgain ??= this.RegisterGrainTimer(StartAgainAsync, new GrainTimerCreationOptions(every, every) { KeepAlive = true });
        }
        finally
        {
            _starting.ExceptWith(ready.Select(s => s.TaskId));
        }
    }

    private async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        await StartDependentsAsync();
        if (!S.Subtasks.Any(s => Waiting(s) && Unmet(s).Count == 0))
        {
            _startAgain?.Dispose();
            _startAgain = null;
        }
    }

    /// <summary>Fails the waiting dependents of a dependency that ended without completing, naming it; on through chains.</summary>
    private void FailBlockedDependents()
    {
        for (var failedOne = true; failedOne;)
        {
            failedOne = false;
            for (var i = 0; i < S.Subtasks.Count; i++)
            {
                var subtask = S.Subtasks[i];
                if (!Waiting(subtask)
                    || DependenciesOf(subtask).FirstOrDefault(d => d.State.IsFinal() && d.State != SubtaskState.Completed) is not { } blocker)
                {
                    continue;
                }

                var reason = $"dependency {blocker.Domain} {Ended(blocker.State)}: {blocker.Error}";
                S.Subtasks[i] = subtask with { State = SubtaskState.Failed, Error = reason, CompletedAt = time.GetUtcNow() };
                _ = transport.AppendLogsAsync(subtask.TaskId, [WireFormat.LogLine(time.GetUtcNow(), $"Not started: {reason}")]);
                failedOne = true;
            }
        }
    }

    private static string Ended(SubtaskState state) => state switch
    {
        SubtaskState.TimedOut => "timed out",
        SubtaskState.Cancelled => "was cancelled",
        _ => "failed",
    };

    /// <summary>Cancels the waiting dependents here: their grains have nothing to cancel.</summary>
    private void CancelWaiting()
    {
        for (var i = 0; i < S.Subtasks.Count; i++)
        {
            if (Waiting(S.Subtasks[i]))
            {
                S.Subtasks[i] = S.Subtasks[i] with { State = SubtaskState.Cancelled, Error = "Cancelled by the user before it started", CompletedAt = time.GetUtcNow() };
            }
        }
    }

    /// <summary>Makes the never-started dependents among <paramref name="retried"/> wait again, for their dependencies' new run.</summary>
    private void WaitAgain(IEnumerable<SubtaskView> retried)
    {
        foreach (var subtask in retried.Where(NeverStarted))
        {
            var index = S.Subtasks.FindIndex(s => s.TaskId == subtask.TaskId);
            S.Subtasks[index] = subtask with { State = SubtaskState.Pending, Error = null, CompletedAt = null };
        }
    }

    /// <summary>The view of a subtask as users see it: a waiting one says what it waits for.</summary>
    private SubtaskView Shown(SubtaskView subtask) => Waiting(subtask) ? subtask with { WaitingFor = Unmet(subtask) } : subtask;

    /// <summary>A dependent's context carries its dependencies' results; other subtasks get the task's context as it is.</summary>
    private string? ContextFor(SubtaskView subtask) =>
        subtask.After.Count == 0 ? S.Request!.ContextJson : DependencyResults.WithResults(S.Request!.ContextJson, DependenciesOf(subtask));

    private string? BaseCommitFor(SubtaskView subtask) =>
        subtask.After.Count == 0 ? S.BaseCommit : DependencyResults.BaseCommitAfter(DependenciesOf(subtask), S.BaseCommit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} starts {Domain}: its dependencies {Dependencies} completed")]
    private partial void LogDependentStarting(string taskId, string domain, string dependencies);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} could not start {Domains}, whose dependencies completed; trying again")]
    private partial void LogDependentStartFailed(Exception exception, string taskId, string domains);
}
