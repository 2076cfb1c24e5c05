using Orchestrator.Worker;

namespace Orchestrator.Tests.Worker;

public sealed class StartNoticeTests
{
    [Fact]
    public async Task The_notice_goes_once_before_the_first_output_however_many_batches_follow()
    {
        var sent = 0;
        var notice = new StartNotice(() => { Interlocked.Increment(ref sent); return Task.FromResult(true); });

        await notice.BeforeOutputAsync();
        await notice.BeforeOutputAsync();
        await notice.AgentEndedAsync();
        await notice.BeforeOutputAsync();

        Assert.Equal(1, sent);
    }

    [Fact]
    public async Task An_agent_that_ended_before_any_output_was_sent_gets_no_notice()
    {
        var sent = 0;
        var notice = new StartNotice(() => { Interlocked.Increment(ref sent); return Task.FromResult(true); });

        await notice.AgentEndedAsync();
        await notice.BeforeOutputAsync(); // the last flush of its log, after the agent ended

        Assert.Equal(0, sent);
    }

    [Fact]
    public async Task The_end_of_the_agent_hands_back_a_notice_still_under_way_so_the_result_waits_for_it()
    {
        var delivered = new TaskCompletionSource<bool>();
        var notice = new StartNotice(() => delivered.Task);

        var firstBatch = notice.BeforeOutputAsync();
        var ended = notice.AgentEndedAsync();

        Assert.False(ended.IsCompleted);
        delivered.SetResult(true);
        await ended;
        await firstBatch;
    }

    [Fact]
    public async Task A_notice_that_could_not_be_sent_is_tried_again_before_the_next_batch()
    {
        var tries = 0;
        var notice = new StartNotice(() => Task.FromResult(Interlocked.Increment(ref tries) > 1));

        await notice.BeforeOutputAsync(); // fails: the store did not answer
        await notice.BeforeOutputAsync();
        await notice.BeforeOutputAsync();

        Assert.Equal(2, tries);
    }
}
