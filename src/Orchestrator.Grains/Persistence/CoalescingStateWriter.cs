using Orleans.Storage;

namespace Orchestrator.Grains.Persistence;

/// <summary>
/// Group commit for a reentrant grain: at most one storage write is in flight, and every caller that asks for a
/// write while one is running shares the next one. A burst of N changes costs two writes, not N, and every
/// caller still returns only after a write that includes its change. <c>captureState</c>, when given, copies the
/// grain's working data into the state object right before each write.
/// </summary>
/// <remarks>
/// An etag conflict means another activation of this grain wrote the state (a duplicate during a membership
/// change): this activation's copy is stale. Its write is never forced over the stored one; the conflict fails this
/// write and every later one, and <paramref name="onConflict"/> (the grain's <c>DeactivateOnIdle</c>) lets the
/// activation go, so that the next call reads the stored state afresh. Callers retry on the new activation.
/// </remarks>
public sealed class CoalescingStateWriter<TState>(IPersistentState<TState> state, Action onConflict, Action? captureState = null)
{
    private TaskCompletionSource? _next;
    private bool _writing;
    private InconsistentStateException? _conflict;

    public Task WriteAsync()
    {
        if (_conflict is not null)
        {
            return Task.FromException(_conflict);
        }

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
                    if (_conflict is not null)
                    {
                        throw _conflict;
                    }

                    captureState?.Invoke();
                    await state.WriteStateAsync();
                    batch.TrySetResult();
                }
                catch (InconsistentStateException e)
                {
                    _conflict ??= e;
                    onConflict();
                    batch.TrySetException(e);
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
}
