using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Grains.Persistence;

namespace Orchestrator.Grains.Tasks;

[GenerateSerializer, Alias("orchestrator.task-index-state")]
public sealed class TaskIndexState
{
    /// <summary>Newest first.</summary>
    [Id(0)] public List<TaskSummary> Recent { get; set; } = [];

    /// <summary>When each listed task finished; absent while it runs.</summary>
    [Id(1)] public Dictionary<string, DateTimeOffset> FinishedAt { get; set; } = [];
}

/// <summary>
/// The list behind <c>orchestrator tasks</c>: the most recent task ids, newest first, written at most once a second
/// so that it stays off the submit path. A crash can lose the last second of entries from this list only; the tasks
/// themselves are stored by their own grains and stay readable by id. It never holds more than
/// <see cref="OrchestratorOptions.TaskIndexSize"/> entries, and drops a finished task's entry when its retention ends.
/// </summary>
public sealed partial class TaskIndexGrain(
    [PersistentState("index", StorageNames.Orchestrator)] IPersistentState<TaskIndexState> state,
    IOptions<OrchestratorOptions> options,
    [FromKeyedServices(TaskClock.Key)] TimeProvider time,
    ILogger<TaskIndexGrain> logger) : Grain, ITaskIndexGrain
{
    // Its memory is the list itself, written whole: a failed write is carried by the next one.
    private CoalescingStateWriter<TaskIndexState> Writer => field ??= new(state, DeactivateOnIdle, memoryIsTheTruth: true);

    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    private bool _dirty;

    private TaskIndexState Index => state.State;

    private RetentionOptions Retention => options.Value.Retention;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(FlushAsync, new GrainTimerCreationOptions(FlushInterval, FlushInterval));
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception e) when (reason.ReasonCode == DeactivationReasonCode.ShuttingDown)
        {
            // A silo going down may have stopped its storage already; with durable storage the last second is at stake only.
            logger.LogDebug(e, "Task index not flushed at shutdown");
        }
    }

    public Task Add(TaskSummary summary)
    {
        var recent = Index.Recent;
        recent.Insert(0, summary);
        if (recent.Count > options.Value.TaskIndexSize)
        {
            foreach (var dropped in recent[options.Value.TaskIndexSize..])
            {
                Index.FinishedAt.Remove(dropped.TaskId);
            }

            recent.RemoveRange(options.Value.TaskIndexSize, recent.Count - options.Value.TaskIndexSize);
        }

        _dirty = true;
        return Task.CompletedTask;
    }

    public Task Finished(string taskId, DateTimeOffset? finishedAt)
    {
        // Kept even before the task's own Add arrives (two one-way messages may pass each other); the next write
        // drops finish times of tasks the list does not hold.
        if (finishedAt is { } at)
        {
            _dirty |= !Index.FinishedAt.TryGetValue(taskId, out var known) || known != at;
            Index.FinishedAt[taskId] = at;
        }
        else
        {
            _dirty |= Index.FinishedAt.Remove(taskId);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<TaskSummary>> Recent(int limit)
    {
        var now = time.GetUtcNow();
        return Task.FromResult<IReadOnlyList<TaskSummary>>(Index.Recent.Where(e => !Expired(e.TaskId, now)).Take(Math.Max(0, limit)).ToArray());
    }

    public async Task<PruneReport> Prune(TimeSpan? olderThan)
    {
        // Checked here, on the silo: a client may send anything.
        var age = olderThan ?? (Retention.KeepsForever
            ? throw new InvalidTaskRequestException($"Retention is off ({RetentionOptions.FinishedTasksSetting} is 0): say how long ago a task must have finished, e.g. --older-than 7d.")
            : Retention.FinishedTasks);
        if (age < TimeSpan.Zero)
        {
            throw new InvalidTaskRequestException($"The age a finished task must have reached cannot be negative (got {age}).");
        }

        var now = time.GetUtcNow();
        var finishedBy = age >= now - DateTimeOffset.MinValue ? DateTimeOffset.MinValue : now - age;
        var due = Due(finishedBy).Take(PruneReport.MaxPerCall).ToArray();
        // Each task decides on its own state: the index's word that it finished is never enough to remove it.
        var outcomes = await Task.WhenAll(due.Select(e => GrainFactory.Reference<ITaskGrain>(e.TaskId).Purge(finishedBy)));
        var removed = new List<PrunedTask>();
        for (var i = 0; i < due.Length; i++)
        {
            var (entry, outcome) = (due[i], outcomes[i]);
            if (outcome.Removed || !outcome.Exists)
            {
                Forget(entry.TaskId);
                if (outcome.Removed)
                {
                    removed.Add(new PrunedTask(entry.TaskId, entry.Description, outcome.State, outcome.CompletedAt));
                }
            }
            else if (outcome.CompletedAt is { } at)
            {
                Index.FinishedAt[entry.TaskId] = at; // finished again later (a retry) than the index knew
            }
            else
            {
                Index.FinishedAt.Remove(entry.TaskId); // runs again
            }
        }

        _dirty |= due.Length > 0;
        LogPruned(removed.Count, age, finishedBy);
        return new PruneReport(removed, age, Due(finishedBy).Count());
    }

    private IEnumerable<TaskSummary> Due(DateTimeOffset finishedBy) =>
        Index.Recent.Where(e => Index.FinishedAt.TryGetValue(e.TaskId, out var at) && at <= finishedBy);

    private bool Expired(string taskId, DateTimeOffset now) =>
        !Retention.KeepsForever && Index.FinishedAt.TryGetValue(taskId, out var at) && at + Retention.FinishedTasks <= now;

    private void Forget(string taskId)
    {
        Index.Recent.RemoveAll(e => e.TaskId == taskId);
        Index.FinishedAt.Remove(taskId);
    }

    private Task FlushAsync(CancellationToken cancellationToken)
    {
        // The tasks' own records expire in the store; their entries go here, on the same clock.
        var now = time.GetUtcNow();
        if (Index.FinishedAt.Count > 0 && Index.Recent.Exists(e => Expired(e.TaskId, now)))
        {
            foreach (var expired in Index.Recent.Where(e => Expired(e.TaskId, now)).ToArray())
            {
                Forget(expired.TaskId);
            }

            _dirty = true;
        }

        if (!_dirty)
        {
            return Task.CompletedTask;
        }

        var listed = Index.Recent.Select(e => e.TaskId).ToHashSet();
        foreach (var unlisted in Index.FinishedAt.Keys.Where(id => !listed.Contains(id)).ToArray())
        {
            Index.FinishedAt.Remove(unlisted);
        }

        _dirty = false;
        return Writer.WriteAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Count} finished task(s) older than {Age} (finished by {FinishedBy})")]
    private partial void LogPruned(int count, TimeSpan age, DateTimeOffset finishedBy);
}
