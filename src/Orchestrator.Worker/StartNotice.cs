namespace Orchestrator.Worker;

/// <summary>
/// When an attempt is reported in progress: just before its log is first sent while its agent runs — every attempt
/// logs its start at once, so within the log's flush interval, and no watcher sees output of an attempt still shown
/// as queued. An attempt whose agent ended before then is reported by its result alone, which says when it started:
/// a notice, a grain call and a stored change fewer.
/// </summary>
/// <param name="send">Sends the notice; false when it could not (it is tried again before the next batch).</param>
public sealed class StartNotice(Func<Task<bool>> send)
{
    private readonly Lock _lock = new();
    private Task<bool>? _sent;
    private bool _agentEnded;

    /// <summary>Before each batch of the log: the notice goes first, once (until it went), while the agent runs.</summary>
    public Task BeforeOutputAsync()
    {
        lock (_lock)
        {
            if (_agentEnded)
            {
                return _sent ?? Task.CompletedTask;
            }

            if (_sent is { IsCompletedSuccessfully: true, Result: false })
            {
                _sent = null; // it could not be sent: tried again now
            }

            return _sent ??= send();
        }
    }

    /// <summary>The agent ended (or never ran): no notice from now on; one under way is returned, to go before the result.</summary>
    public Task AgentEndedAsync()
    {
        lock (_lock)
        {
            _agentEnded = true;
            return _sent ?? Task.CompletedTask;
        }
    }
}
