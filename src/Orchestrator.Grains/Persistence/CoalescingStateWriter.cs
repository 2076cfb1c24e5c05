using Orchestrator.Contracts;
using Orleans.Core;
using Orleans.Storage;

namespace Orchestrator.Grains.Persistence;

/// <summary>
/// Group commit for a reentrant grain: at most one storage write is in flight, and every caller that asks for a
/// write while one is running shares the next one. A burst of N changes costs two writes, not N, and every
/// caller still returns only after a write that includes its change. <c>captureState</c>, when given, copies the
/// grain's working data into the state object right before each write.
/// </summary>
/// <remarks>
/// A grain changes its state in memory, then writes it. When the write fails, memory is ahead of storage; acting on
/// it would acknowledge what was never stored (a result taken in memory, a duplicate then dropped as already known).
/// So a failed write — an etag conflict (another activation wrote: this copy is stale) or any storage error — fails
/// that write and every later one, and <paramref name="onFailed"/> (the grain's <c>DeactivateOnIdle</c>) lets the
/// activation go; <see cref="ThrowIfFailed"/> refuses the calls that reach it meanwhile. The next call reads the
/// stored state afresh and the caller's retry meets it. Only when memory is the grain's own truth does a storage
/// error leave the activation serving. An etag conflict lets it go all the same.
/// </remarks>
/// <param name="memoryIsTheTruth">True for a grain whose memory is its own truth and written whole each time (a
/// scheduler's queue, the task index): a storage error leaves it serving, and the next write carries the change.</param>
public sealed class CoalescingStateWriter<TState>(IStorage<TState> state, Action onFailed, Action? captureState = null, bool memoryIsTheTruth = false)
{
    private TaskCompletionSource? _next;
    private bool _writing;
    private Exception? _failed;

    /// <summary>Throws once a write of this activation failed: its memory may be ahead of storage.</summary>
    public void ThrowIfFailed()
    {
        if (_failed is not null)
        {
            throw new StaleActivationException(_failed.Message);
        }
    }

    public Task WriteAsync()
    {
        if (_failed is not null)
        {
            return Task.FromException(new StaleActivationException(_failed.Message));
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
                    if (_failed is not null)
                    {
                        throw new StaleActivationException(_failed.Message);
                    }

                    captureState?.Invoke();
                    await state.WriteStateAsync();
                    batch.TrySetResult();
                }
                catch (Exception e) when (e is InconsistentStateException || !memoryIsTheTruth)
                {
                    _failed ??= e;
                    onFailed();
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
