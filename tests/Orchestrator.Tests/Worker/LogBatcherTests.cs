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
}
