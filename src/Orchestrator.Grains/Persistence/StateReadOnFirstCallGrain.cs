using Orleans.Core;
using Orleans.Storage;

namespace Orchestrator.Grains.Persistence;

/// <summary>
/// A stored-state grain that reads its state at its first call rather than at its activation, so that the call that
/// creates it (<see cref="CreatingMethod"/>: the first a new task or subtask gets) costs no read of a record that is
/// not there yet. That call starts from an empty state and stores it with <see cref="CreateAsync"/>, which the storage
/// refuses where a record exists (an empty etag over a stored one), and then reads it; every other call waits until the
/// state is known, as calls waited for the activation's read before. A grain whose key its caller has just made
/// (<see cref="CreatingNewMethod"/>) has no record to find: its state is known, empty, at once.
/// </summary>
public abstract class StateReadOnFirstCallGrain<TState>(string stateName, IGrainStorage storage) : StoredStateGrain<TState>
    where TState : class, new()
{
    /// <summary>The storage of the grain's state, for other states of the grain to share.</summary>
    protected IGrainStorage Storage { get; } = storage;

    /// <summary>Memory holds the stored state: read, or created by this activation's write.</summary>
    private bool _read;

    /// <summary>The calls may go on: <see cref="_read"/>, and <see cref="OnStateReadAsync"/> done after a read.</summary>
    private bool _known;

    /// <summary>Set while the creating call runs and its state is not known yet; the other calls wait for it.</summary>
    private TaskCompletionSource? _creating;

    /// <summary>The read under way, shared by the calls that wait for it.</summary>
    private Task? _reading;

    protected sealed override IStorage<TState> StoredState =>
        field ??= new StateStorageBridge<TState>(stateName, GrainContext, Storage) { State = new TState() };

    /// <summary>The grain method that may create the state (the interface method's name).</summary>
    protected abstract string CreatingMethod { get; }

    /// <summary>
    /// The grain method that creates the state of a key just made, which no record can have; null when there is none.
    /// It starts with the state known (empty) and stores it through <see cref="StoredStateGrain{TState}.Writer"/>, so
    /// other calls go on while that write is under way. Should a record exist after all, the write is refused (no etag
    /// over a stored one) and the grain is replaced, never writing over it.
    /// </summary>
    protected virtual string? CreatingNewMethod => null;

    /// <summary>Runs after the stored state is read, not after a creation (again at the next call if it failed): what an activation did with it before.</summary>
    protected virtual Task OnStateReadAsync() => Task.CompletedTask;

    /// <summary>
    /// The stored state says the grain's work is over (a final task or subtask). Such a grain is let go once no call
    /// runs in it: a silo then holds nothing per finished task (Orleans keeps an idle activation for its collection
    /// age, 15 minutes, and thousands of tasks a second made that a gigabyte of memory the collector walked again and
    /// again), and a later call reads it again.
    /// </summary>
    protected virtual bool IsFinished => false;

    /// <summary>
    /// The calls running in the grain (it may be reentrant). Only the last to end may let it go: once deactivation is
    /// asked for, Orleans holds every new call until the running ones end, and one of them (a retry) may be waiting on
    /// a call that now cannot get in.
    /// </summary>
    private int _running;

    public override Task Invoke(IIncomingGrainCallContext context)
    {
        _running++;
        Task call;
        try
        {
            call = InvokeWhenStateKnown(context);
        }
        catch
        {
            CallEnded();
            throw;
        }

        if (!call.IsCompleted)
        {
            return EndAfterAsync(call);
        }

        CallEnded();
        return call;
    }

    private async Task EndAfterAsync(Task call)
    {
        try
        {
            await call;
        }
        finally
        {
            CallEnded();
        }
    }

    private void CallEnded()
    {
        if (--_running == 0 && _known && IsFinished)
        {
            DeactivateOnIdle();
        }
    }

    private Task InvokeWhenStateKnown(IIncomingGrainCallContext context)
    {
        if (_known)
        {
            return base.Invoke(context);
        }

        // Never once read: a repeated create must not write over what a read found (its etag would let it).
        if (!_read && _creating is null && _reading is null)
        {
            var method = context.Request.GetMethodName();
            if (method == CreatingMethod)
            {
                return CreatingCallAsync(context);
            }

            if (method == CreatingNewMethod)
            {
                _read = _known = true; // nothing stored to read: memory holds it, empty
                return base.Invoke(context);
            }
        }

        return WhenKnownAsync(context);
    }

    /// <summary>
    /// For the creating call, when memory holds no state yet (<see cref="TState"/> empty): stores <paramref name="initial"/>
    /// as the first state. False when a record was there after all (the call repeated after this grain was let go):
    /// memory then holds that record, read.
    /// </summary>
    protected async Task<bool> CreateAsync(TState initial)
    {
        StoredState.State = initial;
        if (_read)
        {
            await Writer.WriteAsync(); // read before, and nothing was stored
            return true;
        }

        try
        {
            await StoredState.WriteStateAsync(); // no etag: refused where a record exists
        }
        catch (InconsistentStateException)
        {
            StoredState.State = new TState();
            await FinishReadAsync(); // stored before: read it, and the call goes on as a repeat
            return false;
        }
        catch
        {
            StoredState.State = new TState(); // not known still: the next call reads
            throw;
        }

        _read = _known = true;
        _creating?.TrySetResult();
        return true;
    }

    private async Task CreatingCallAsync(IIncomingGrainCallContext context)
    {
        var creating = _creating = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await base.Invoke(context);
        }
        finally
        {
            _creating = null;
            creating.TrySetResult(); // also when it ended before storing anything (refused input): the next call reads
        }
    }

    private async Task WhenKnownAsync(IIncomingGrainCallContext context)
    {
        while (!_known)
        {
            if (_creating is { } creating)
            {
                await creating.Task;
                continue;
            }

            var reading = _reading ??= FinishReadAsync();
            try
            {
                await reading;
            }
            finally
            {
                if (ReferenceEquals(_reading, reading))
                {
                    _reading = null; // done, or failed: the next call tries again
                }
            }
        }

        await base.Invoke(context);
    }

    /// <summary>Reads the state unless read already, then does what a read calls for; a failure leaves the next call to finish it.</summary>
    private async Task FinishReadAsync()
    {
        if (!_read)
        {
            await StoredState.ReadStateAsync();
            _read = true;
        }

        await OnStateReadAsync();
        _known = true;
        _creating?.TrySetResult();
    }
}
