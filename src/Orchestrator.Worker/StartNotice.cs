namespace Orchestrator.Worker;

/// <summary>
/// When an attempt is reported in progress: just before its log is first sent while its agent runs — every attempt
/// logs its start at once, so within the log's flush interval, and no watcher sees output of an attempt still shown
/// as queued. An attempt whose agent ended before then is reported by its result alone, which says when it started:
/// a notice, a grain call and a stored change fewer.
/// </summary>
public sealed class StartNotice(Func<Task> send)
{
    private readonly Lock _lock = new();
    private Task? _sent;
    private bool _agentEnded;

    /// <summary>Before each batch of the log: the notice goes first, once, while the agent runs.</summary>
    public Task BeforeOutputAsync()
    {
        lock (_lock)
        {
            return _agentEnded ? _sent ?? Task.CompletedTask : _sent ??= send();
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
