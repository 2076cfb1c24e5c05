using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// The takers of one domain waiting for its notifications (one per message queued). Each notification wakes only the
/// taker that waited longest: with many takers, waking all would turn each task into as many list pops. One that
/// arrives while nobody waits is kept as unheard, so that a taker arriving later looks rather than waits.
/// </summary>
internal sealed class TakerWakeup
{
    private readonly object _gate = new();
    private readonly LinkedList<TaskCompletionSource> _waiters = new();
    private int _unheard;

    public static async Task<TakerWakeup> SubscribeAsync(ISubscriber subscriber, string domain)
    {
        var wakeup = new TakerWakeup();
        await subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.Notifications(domain)), (_, _) => wakeup.Signal()).ConfigureAwait(false);
        return wakeup;
    }

    /// <summary>
    /// Adds a waiter. A taker arriving (<paramref name="arriving"/>) may find work unless others waited already and no
    /// notification went unheard: a message queued since then woke, or will wake, one of them; it takes one unheard
    /// notification for itself. A woken taker looks anyway, for the notification that woke it, and takes none.
    /// </summary>
    public (LinkedListNode<TaskCompletionSource> Waiter, bool MayFindWork) Register(bool arriving)
    {
        lock (_gate)
        {
            var mayFindWork = !arriving || _waiters.Count == 0 || _unheard > 0;
            if (arriving && _unheard > 0)
            {
                _unheard--;
            }

            return (_waiters.AddLast(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)), mayFindWork);
        }
    }

    /// <summary>Withdraws a waiter; if it had been woken and will not look again, its wake-up goes to the next one.</summary>
    public void Unregister(LinkedListNode<TaskCompletionSource> waiter, bool passOnWakeup)
    {
        lock (_gate)
        {
            if (waiter.List is not null)
            {
                _waiters.Remove(waiter);
                return;
            }
        }

        if (passOnWakeup)
        {
            Signal();
        }
    }

    /// <summary>A message was queued: wakes the taker that waited longest, or keeps it as unheard when none waits.</summary>
    public void Signal()
    {
        TaskCompletionSource? first;
        lock (_gate)
        {
            first = _waiters.First?.Value;
            if (first is not null)
            {
                _waiters.RemoveFirst();
            }
            else if (_unheard < int.MaxValue)
            {
                _unheard++;
            }
        }

        first?.TrySetResult();
    }
}
