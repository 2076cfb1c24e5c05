using System.Threading.Channels;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker;

/// <summary>
/// Collects a task's output lines and sends them to its log in batches — one call per flush interval or per
/// full batch, never one call per line.
/// </summary>
public sealed class LogBatcher : IAsyncDisposable
{
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<string>, Task> _send;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly int _batchLines;
    private readonly Task _pump;

    public LogBatcher(Func<IReadOnlyList<string>, Task> send, TimeSpan interval, int batchLines, TimeProvider time)
    {
        _send = send;
        _interval = interval;
        _batchLines = batchLines;
        _time = time;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Adds a line, time-stamped now.</summary>
    public void Add(string text) => _lines.Writer.TryWrite(WireFormat.LogLine(_time.GetUtcNow(), text));

    private async Task PumpAsync()
    {
        var batch = new List<string>(_batchLines);
        while (await _lines.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var flushAt = _time.GetUtcNow() + _interval;
            while (batch.Count < _batchLines)
            {
                while (batch.Count < _batchLines && _lines.Reader.TryRead(out var line))
                {
                    batch.Add(line);
                }

                var wait = flushAt - _time.GetUtcNow();
                if (batch.Count >= _batchLines || wait <= TimeSpan.Zero)
                {
                    break;
                }

                using var delay = new CancellationTokenSource(wait);
                try
                {
                    if (!await _lines.Reader.WaitToReadAsync(delay.Token).ConfigureAwait(false))
                    {
                        break; // completed
                    }
                }
                catch (OperationCanceledException)
                {
                    break; // interval over: flush what there is
                }
            }

            await SendAsync(batch).ConfigureAwait(false);
        }

        await SendAsync(batch).ConfigureAwait(false);
    }

    private async Task SendAsync(List<string> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            await _send(batch.ToArray()).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Log lines are best effort: a lost batch must not fail the task. The result still carries stdout's tail.
        }

        batch.Clear();
    }

    /// <summary>Sends what is left and stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }
}
