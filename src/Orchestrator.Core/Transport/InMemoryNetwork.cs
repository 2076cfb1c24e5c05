using System.Collections.Concurrent;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Core.Transport;

/// <summary>
/// The embedded default: the same queues, results, logs and registry as the Redis protocol, held in this process.
/// Nothing survives the process; use Redis for durability.
/// </summary>
public sealed class InMemoryNetwork(ITaskEventSink sink, TimeProvider time, TimeSpan heartbeatTtl) : ITaskTransport, IWorkerTransport, IAgentDirectory, ITaskRetention
{
    private readonly ConcurrentDictionary<string, DomainQueue> _queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AgentResult> _results = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<string>> _logs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AgentInfo> _agents = new(StringComparer.Ordinal);

    private DomainQueue QueueOf(string domain) => _queues.GetOrAdd(domain, _ => new DomainQueue());

    public async Task PublishAsync(TaskMessage message, string logLine, CancellationToken cancellationToken = default)
    {
        _results.TryRemove(message.TaskId, out _);
        await AppendLogsAsync(message.TaskId, [logLine], cancellationToken);
        QueueOf(message.Destination).Push(message.TaskId, message.ToJson());
    }

    public Task WithdrawAsync(string domain, string taskId, CancellationToken cancellationToken = default)
    {
        QueueOf(domain).Withdraw(taskId);
        return Task.CompletedTask;
    }

    public Task<AgentResult?> GetResultAsync(string taskId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_results.TryGetValue(taskId, out var result) ? result : null);

    public Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken = default)
    {
        var log = _logs.GetOrAdd(taskId, _ => []);
        lock (log)
        {
            log.AddRange(lines);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> ReadLogsAsync(string taskId, long fromIndex, CancellationToken cancellationToken = default)
    {
        if (!_logs.TryGetValue(taskId, out var log))
        {
            return Task.FromResult<IReadOnlyList<string>>([]);
        }

        lock (log)
        {
            var start = (int)Math.Min(Math.Max(fromIndex, 0), log.Count);
            return Task.FromResult<IReadOnlyList<string>>(log.GetRange(start, log.Count - start));
        }
    }

    // Nothing here outlives the process, so an expiry is not kept: a finished task's status still reads as expired
    // once its retention has passed (the task grain checks), and prune frees the memory at once.
    public Task ExpireAsync(TaskRecords records, TimeSpan after, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task KeepAsync(TaskRecords records, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public Task DeleteAsync(TaskRecords records, CancellationToken cancellationToken = default)
    {
        foreach (var taskId in records.ResultIds)
        {
            _results.TryRemove(taskId, out _);
        }

        foreach (var taskId in records.LogIds)
        {
            _logs.TryRemove(taskId, out _);
        }

        return Task.CompletedTask;
    }

    public async Task<TaskLease?> TakeAsync(string domain, TimeSpan wait, CancellationToken cancellationToken)
    {
        var taken = await QueueOf(domain).TakeAsync(wait, cancellationToken).ConfigureAwait(false);
        return taken is null ? null : new TaskLease(domain, taken.Value.Raw, taken.Value.Withdrawn);
    }

    public Task MarkStartedAsync(TaskLease lease, string agentId, string? incarnation, DateTimeOffset startedAt, string? leaseProof, CancellationToken cancellationToken) =>
        sink.OnStartedAsync(QueueOf(lease.Domain).TaskIdOf(lease.RawMessage), agentId, startedAt, leaseProof, incarnation);

    async Task IWorkerTransport.AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        await AppendLogsAsync(taskId, lines, cancellationToken).ConfigureAwait(false);
        await sink.OnLogsAppendedAsync(taskId).ConfigureAwait(false);
    }

    public async Task CompleteAsync(TaskLease lease, AgentResult result, IReadOnlyList<string> lastLogLines, CancellationToken cancellationToken)
    {
        await AppendLogsAsync(result.TaskId, lastLogLines, cancellationToken).ConfigureAwait(false);
        if (!QueueOf(lease.Domain).Finish(lease.RawMessage))
        {
            // Withdrawn meanwhile: the orchestrator no longer waits for this run; its last lines are news to a watcher.
            if (lastLogLines.Count > 0)
            {
                await sink.OnLogsAppendedAsync(result.TaskId).ConfigureAwait(false);
            }

            return;
        }

        _results[result.TaskId] = result;
        await sink.OnResultAsync(result).ConfigureAwait(false);
    }

    public Task DiscardAsync(TaskLease lease, CancellationToken cancellationToken)
    {
        QueueOf(lease.Domain).Finish(lease.RawMessage);
        return Task.CompletedTask;
    }

    public Task RegisterAsync(AgentInfo agent, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        _agents[agent.AgentId] = agent with { CreatedAt = now, LastHeartbeat = now };
        return Task.CompletedTask;
    }

    public Task<bool> HeartbeatAsync(string agentId, CancellationToken cancellationToken = default)
    {
        while (_agents.TryGetValue(agentId, out var agent))
        {
            if (_agents.TryUpdate(agentId, agent with { LastHeartbeat = time.GetUtcNow() }, agent))
            {
                return Task.FromResult(true);
            }
        }

        return Task.FromResult(false);
    }

    public Task SetStatusAsync(string agentId, string status, CancellationToken cancellationToken = default)
    {
        while (_agents.TryGetValue(agentId, out var agent) && !_agents.TryUpdate(agentId, agent with { Status = status }, agent))
        {
        }

        return Task.CompletedTask;
    }

    public Task DeregisterAsync(string agentId, CancellationToken cancellationToken = default)
    {
        _agents.TryRemove(agentId, out _);
        return Task.CompletedTask;
    }

    public Task<AgentInfo?> GetAsync(string agentId, CancellationToken cancellationToken = default) =>
        Task.FromResult(_agents.TryGetValue(agentId, out var agent) ? WithHealth(agent) : null);

    public Task<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<AgentInfo>>(_agents.Values.Select(WithHealth).OrderBy(a => a.AgentId, StringComparer.Ordinal).ToArray());

    private AgentInfo WithHealth(AgentInfo agent) =>
        agent with { Healthy = agent.LastHeartbeat is { } beat && time.GetUtcNow() - beat < heartbeatTtl };

    /// <summary>One domain's pending and active lists. FIFO: the scheduler already feeds it in priority order.</summary>
    private sealed class DomainQueue
    {
        private readonly object _gate = new();
        private readonly LinkedList<(string TaskId, string Raw)> _pending = new();
        private readonly Dictionary<string, (string TaskId, CancellationTokenSource Withdrawn)> _active = new(StringComparer.Ordinal);
        private readonly LinkedList<TaskCompletionSource<bool>> _waiters = new();

        public void Push(string taskId, string raw)
        {
            TaskCompletionSource<bool>? waiter;
            lock (_gate)
            {
                _pending.AddLast((taskId, raw));
                waiter = _waiters.First?.Value;
                if (waiter is not null)
                {
                    _waiters.RemoveFirst();
                }
            }

            waiter?.TrySetResult(true);
        }

        public async Task<(string Raw, CancellationToken Withdrawn)?> TakeAsync(TimeSpan wait, CancellationToken cancellationToken)
        {
            var deadline = DateTime.UtcNow + wait;
            while (true)
            {
                TaskCompletionSource<bool> waiter;
                lock (_gate)
                {
                    if (_pending.First is { } first)
                    {
                        _pending.RemoveFirst();
                        var withdrawn = new CancellationTokenSource();
                        _active[first.Value.Raw] = (first.Value.TaskId, withdrawn);
                        return (first.Value.Raw, withdrawn.Token);
                    }

                    waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiters.AddLast(waiter);
                }

                var remaining = deadline - DateTime.UtcNow;
                var woke = remaining > TimeSpan.Zero && await waiter.Task.WaitAsync(remaining, cancellationToken)
                    .ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default).ConfigureAwait(false);
                if (!woke)
                {
                    lock (_gate)
                    {
                        _waiters.Remove(waiter);
                    }

                    cancellationToken.ThrowIfCancellationRequested();
                    return null;
                }
            }
        }

        public void Withdraw(string taskId)
        {
            List<CancellationTokenSource> toCancel = [];
            lock (_gate)
            {
                for (var node = _pending.First; node is not null;)
                {
                    var next = node.Next;
                    if (node.Value.TaskId == taskId)
                    {
                        _pending.Remove(node);
                    }

                    node = next;
                }

                foreach (var (raw, entry) in _active.Where(a => a.Value.TaskId == taskId).ToArray())
                {
                    _active.Remove(raw);
                    toCancel.Add(entry.Withdrawn);
                }
            }

            toCancel.ForEach(c => c.Cancel());
        }

        /// <summary>Removes a message from the active list; false if it was withdrawn before.</summary>
        public bool Finish(string raw)
        {
            lock (_gate)
            {
                if (!_active.Remove(raw, out var entry))
                {
                    return false;
                }

                entry.Withdrawn.Dispose();
                return true;
            }
        }

        public string TaskIdOf(string raw)
        {
            lock (_gate)
            {
                return _active.TryGetValue(raw, out var entry) ? entry.TaskId : TaskMessage.Parse(raw).TaskId;
            }
        }
    }
}
