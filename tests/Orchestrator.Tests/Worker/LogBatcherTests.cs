using Microsoft.Extensions.Time.Testing;
using Orchestrator.Worker;

namespace Orchestrator.Tests.Worker;

public sealed class LogBatcherTests
{
    [Fact]
    public async Task Lines_are_sent_in_batches_not_one_call_per_line()
    {
        var calls = new List<IReadOnlyList<string>>();
        await using (var batcher = new LogBatcher(batch => { lock (calls) { calls.Add(batch); } return Task.CompletedTask; },
                         TimeSpan.FromSeconds(5), batchLines: 100, TimeProvider.System))
        {
            for (var i = 0; i < 1000; i++)
            {
                batcher.Add($"line {i}");
            }
        }

        Assert.Equal(1000, calls.Sum(c => c.Count));
        Assert.Equal(10, calls.Count);
        Assert.Matches(@"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\] line 0$", calls[0][0]);
    }

    [Fact]
    public async Task A_partial_batch_is_sent_when_the_interval_passes()
    {
        var sent = new TaskCompletionSource<IReadOnlyList<string>>();
        await using var batcher = new LogBatcher(batch => { sent.TrySetResult(batch); return Task.CompletedTask; },
            TimeSpan.FromMilliseconds(50), batchLines: 100, TimeProvider.System);

        batcher.Add("only line");

        var batch = await sent.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(batch);
    }

    [Fact]
    public async Task Handing_over_returns_the_lines_not_sent_yet_and_sends_them_not_while_full_batches_before_were_sent()
    {
        var sent = new List<string>();
        IReadOnlyList<string> handedOver;
        await using (var batcher = new LogBatcher(batch => { lock (sent) { sent.AddRange(batch); } return Task.CompletedTask; },
                         TimeSpan.FromMinutes(5), batchLines: 10, TimeProvider.System))
        {
            for (var i = 0; i < 25; i++)
            {
                batcher.Add($"line {i}");
            }

            handedOver = await batcher.HandOverAsync();
        }

        Assert.Equal(20, sent.Count);
        Assert.EndsWith("line 19", sent[^1]);
        Assert.Equal(5, handedOver.Count);
        Assert.EndsWith("line 20", handedOver[0]);
        Assert.EndsWith("line 24", handedOver[^1]);
    }

    [Fact]
    public async Task A_partial_batch_is_sent_when_the_interval_passes_on_the_batchers_clock()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var sent = new TaskCompletionSource<IReadOnlyList<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var batcher = new LogBatcher(batch => { sent.TrySetResult(batch); return Task.CompletedTask; },
            TimeSpan.FromHours(1), batchLines: 100, clock);

        batcher.Add("only line");
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10)); // an hour on the wall clock never passes here
        while (!sent.Task.IsCompleted && !bound.IsCancellationRequested)
        {
            clock.Advance(TimeSpan.FromHours(1)); // again if the pump had not begun to wait yet
            await Task.WhenAny(sent.Task, Task.Delay(20, bound.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        }

        Assert.Single(await sent.Task.WaitAsync(TimeSpan.Zero));
    }

    [Fact]
    public async Task A_failing_sink_does_not_stop_the_batcher()
    {
        var attempts = 0;
        await using (var batcher = new LogBatcher(_ => { attempts++; throw new InvalidOperationException("redis down"); },
                         TimeSpan.FromMilliseconds(10), batchLines: 1, TimeProvider.System))
        {
            batcher.Add("a");
            batcher.Add("b");
        }

        Assert.Equal(2, attempts);
    }

    [Fact]
    public async Task Agent_output_past_the_cap_is_dropped_after_one_marker_while_the_workers_notices_still_arrive()
    {
        var lines = new List<string>();
        await using (var batcher = new LogBatcher(batch => { lock (lines) { lines.AddRange(batch); } return Task.CompletedTask; },
                         TimeSpan.FromSeconds(5), batchLines: 100, TimeProvider.System, maxBytes: 100))
        {
            for (var i = 0; i < 50; i++)
            {
                batcher.Add($"agent line {i:D2}"); // 13 bytes and a newline each: seven fit in 100
            }

            batcher.AddNotice("worker: completed");
            Assert.True(batcher.Truncated);
        }

        Assert.Equal(9, lines.Count);
        Assert.EndsWith("] agent line 06", lines[6]);
        Assert.EndsWith("] [log truncated after 100 bytes of agent output; the rest of this attempt's output is not kept]", lines[7]);
        Assert.EndsWith("] worker: completed", lines[8]);
    }
}
