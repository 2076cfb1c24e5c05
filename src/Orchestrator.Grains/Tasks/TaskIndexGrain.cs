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
}

/// <summary>
/// The list behind <c>orchestrator tasks</c>: the most recent task ids, newest first, written at most once a second
/// so that it stays off the submit path. A crash can lose the last second of entries from this list only; the tasks
/// themselves are stored by their own grains and stay readable by id.
/// </summary>
public sealed class TaskIndexGrain(
    [PersistentState("index", StorageNames.Orchestrator)] IPersistentState<TaskIndexState> state,
    IOptions<OrchestratorOptions> options,
    ILogger<TaskIndexGrain> logger) : StoredStateGrain<TaskIndexState>, ITaskIndexGrain
{
    protected override IPersistentState<TaskIndexState> StoredState => state;

    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);

    private bool _dirty;

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
        var recent = state.State.Recent;
        recent.Insert(0, summary);
        if (recent.Count > options.Value.TaskIndexSize)
        {
            recent.RemoveRange(options.Value.TaskIndexSize, recent.Count - options.Value.TaskIndexSize);
        }

        _dirty = true;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<TaskSummary>> Recent(int limit) =>
        Task.FromResult<IReadOnlyList<TaskSummary>>(state.State.Recent.Take(Math.Max(0, limit)).ToArray());

    private Task FlushAsync(CancellationToken cancellationToken)
    {
        if (!_dirty)
        {
            return Task.CompletedTask;
        }

        _dirty = false;
        return Writer.WriteAsync();
    }
}
