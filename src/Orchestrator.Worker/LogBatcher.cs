using System.Threading.Channels;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker;

/// <summary>
/// Collects a task's output lines and sends them to its log in batches — one call per flush interval or per
/// full batch, never one call per line. The agent's output is capped at <c>maxBytes</c> per attempt: past it one
/// visible marker line is written and the rest is dropped; the worker's own notices are always written.
/// </summary>
public sealed class LogBatcher : IAsyncDisposable
{
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<string>, Task> _send;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly int _batchLines;
    private readonly long _maxBytes;
    private readonly Task _pump;
    private long _bytes;
    private int _truncated;

    /// <summary>Set by <see cref="HandOverAsync"/>: what the pump holds when the lines end is kept for the caller, not sent.</summary>
    private volatile bool _handingOver;
    private IReadOnlyList<string> _handedOver = [];

    public LogBatcher(Func<IReadOnlyList<string>, Task> send, TimeSpan interval, int batchLines, TimeProvider time, long maxBytes = long.MaxValue)
    {
        _send = send;
        _interval = interval;
        _batchLines = batchLines;
        _time = time;
        _maxBytes = maxBytes;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>True once the agent's output passed the cap and was cut.</summary>
    public bool Truncated => Volatile.Read(ref _truncated) == 1;

    /// <summary>Adds a line of the agent's output, time-stamped now, while the attempt's log is under its cap.</summary>
    public void Add(string text)
    {
        if (Interlocked.Add(ref _bytes, System.Text.Encoding.UTF8.GetByteCount(text) + 1) <= _maxBytes)
        {
            AddNotice(text);
        }
        else if (Interlocked.Exchange(ref _truncated, 1) == 0)
        {
            AddNotice($"[log truncated after {_maxBytes} bytes of agent output; the rest of this attempt's output is not kept]");
        }
    }

    /// <summary>Adds a line of the worker's own, time-stamped now; never capped.</summary>
    public void AddNotice(string text) => _lines.Writer.TryWrite(WireFormat.LogLine(_time.GetUtcNow(), text));

    private async Task PumpAsync()
    {
        var batch = new List<string>(_batchLines);
        while (await _lines.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var flushAt = _time.GetUtcNow() + _interval;
            var ended = false;
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

                using var delay = new CancellationTokenSource(wait, _time);
                try
                {
                    if (!await _lines.Reader.WaitToReadAsync(delay.Token).ConfigureAwait(false))
                    {
                        ended = true;
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break; // interval over: flush what there is
                }
            }

            if (ended && _handingOver)
            {
                break;
            }

            await SendAsync(batch).ConfigureAwait(false);
        }

        if (_handingOver)
        {
            _handedOver = batch.ToArray();
            return;
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

    /// <summary>
    /// Stops, and returns the lines not sent yet instead of sending them (those sent before are sent by then): the caller
    /// sends them with what it sends next. Later lines are dropped.
    /// </summary>
    public async Task<IReadOnlyList<string>> HandOverAsync()
    {
        _handingOver = true;
        _lines.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        return _handedOver;
    }

    /// <summary>Sends what is left (unless handed over) and stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }
}
