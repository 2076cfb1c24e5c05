using Orleans.Storage;

namespace Orchestrator.Grains.Persistence;

/// <summary>
/// Group commit for a reentrant grain: at most one storage write is in flight, and every caller that asks for a
/// write while one is running shares the next one. A burst of N changes costs two writes, not N, and every
/// caller still returns only after a write that includes its change. <c>captureState</c>, when given, copies the
/// grain's working data into the state object right before each write.
/// </summary>
public sealed class CoalescingStateWriter<TState>(IPersistentState<TState> state, Action? captureState = null)
{
    private TaskCompletionSource? _next;
    private bool _writing;

    public Task WriteAsync()
    {
        _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = _next.Task;
        if (!_writing)
        {
            _ = PumpAsync();
        }

        return written;
    }

    private async Task PumpAsync()
    {
        _writing = true;
        try
        {
            while (_next is { } batch)
            {
                _next = null;
                try
                {
                    captureState?.Invoke();
                    await WriteWithConflictRecoveryAsync();
                    batch.TrySetResult();
                }
                catch (Exception e)
                {
                    batch.TrySetException(e);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }

    /// <summary>
    /// A conflict means the stored copy changed under us (a duplicate activation during a membership change).
    /// This grain is the only writer of its state, so ours is the newest intent: adopt the stored etag and write again once.
    /// </summary>
    private async Task WriteWithConflictRecoveryAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            var mine = state.State;
            await state.ReadStateAsync();
            state.State = mine;
            await state.WriteStateAsync();
        }
    }
}
