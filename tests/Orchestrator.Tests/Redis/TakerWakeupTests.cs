using Orchestrator.Redis;

namespace Orchestrator.Tests.Redis;

/// <summary>When a worker's taker looks into the pending list and when it only waits: the bookkeeping alone, no Redis.</summary>
public sealed class TakerWakeupTests
{
    [Fact]
    public void A_taker_arriving_beside_one_that_waits_only_waits()
    {
        var wakeup = new TakerWakeup();
        wakeup.Register(arriving: true);

        Assert.False(wakeup.Register(arriving: true).MayFindWork);
    }

    [Fact]
    public void A_notification_that_found_nobody_waiting_makes_one_arriving_taker_look()
    {
        var wakeup = new TakerWakeup();
        wakeup.Signal();
        wakeup.Register(arriving: true); // looks anyway: nobody waits
        wakeup.Signal();

        Assert.True(wakeup.Register(arriving: true).MayFindWork);
        Assert.False(wakeup.Register(arriving: true).MayFindWork);
    }

    [Fact]
    public void A_woken_taker_looking_again_leaves_an_unheard_notification_to_the_next_arriving_one()
    {
        var wakeup = new TakerWakeup();
        var (waiting, _) = wakeup.Register(arriving: true);
        wakeup.Signal(); // wakes it: one message
        wakeup.Signal(); // a second message, while nobody waits
        Assert.True(waiting.Value.Task.IsCompleted);

        Assert.True(wakeup.Register(arriving: false).MayFindWork); // it looks again, for its own message
        Assert.True(wakeup.Register(arriving: true).MayFindWork); // and the second message still makes the next one look
    }
}
