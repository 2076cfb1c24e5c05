using Orleans.Core;

namespace Orchestrator.Grains.Persistence;

/// <summary>
/// A grain whose memory is a copy of its stored state: it writes through <see cref="Writer"/>, and once a write
/// failed it answers no call until it is replaced (see <see cref="CoalescingStateWriter{TState}"/>).
/// </summary>
public abstract class StoredStateGrain<TState> : Grain, IIncomingGrainCallFilter
{
    protected abstract IStorage<TState> StoredState { get; }

    protected CoalescingStateWriter<TState> Writer => field ??= new(StoredState, DeactivateOnIdle);

    public virtual Task Invoke(IIncomingGrainCallContext context)
    {
        Writer.ThrowIfFailed();
        return context.Invoke();
    }
}
