using Orchestrator.Core.Domains;

namespace Orchestrator.Grains.Domains;

/// <summary>
/// Group commit of a scheduler's record changes: the subtasks whose queue place or slot changed are noted, and one
/// save at a time writes what they are now (or removes them). A burst of changes costs one save, every caller returns
/// only after a save that includes its change, and a save costs what changed, never the whole queue.
/// </summary>
/// <remarks>
/// The scheduler's memory is its truth: a failed save leaves the changes noted and the next save carries them. A
/// fenced save (a newer activation took the records over) fails this save and every later one, and
/// <paramref name="onFenced"/> lets the activation go.
/// </remarks>
internal sealed class DomainQueueJournal(IDomainQueueStore store, string domain, Func<string, QueueRecord?> recordOf, Action onFenced)
{
    private HashSet<string> _changed = new(StringComparer.Ordinal);
    private TaskCompletionSource? _next;
    private bool _saving;
    private Exception? _fenced;

    public long Fence { get; set; }

    public void Changed(string subtaskId) => _changed.Add(subtaskId);

    public Task SaveAsync()
    {
        if (_fenced is not null)
        {
            return Task.FromException(_fenced);
        }

        _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var saved = _next.Task;
        if (!_saving)
        {
            _ = PumpAsync();
        }

        return saved;
    }

    private async Task PumpAsync()
    {
        _saving = true;
        try
        {
            while (_next is { } batch)
            {
                _next = null;
                var changed = _changed;
                _changed = new HashSet<string>(StringComparer.Ordinal);
                var records = new List<QueueRecord>();
                var removed = new List<string>();
                foreach (var id in changed)
                {
                    if (recordOf(id) is { } record)
                    {
                        records.Add(record);
                    }
                    else
                    {
                        removed.Add(id);
                    }
                }

                try
                {
                    if (_fenced is not null)
                    {
                        throw _fenced;
                    }

                    await store.SaveAsync(domain, Fence, records, removed);
                    batch.TrySetResult();
                }
                catch (QueueStoreFencedException e)
                {
                    _fenced ??= e;
                    onFenced();
                    batch.TrySetException(e);
                }
                catch (Exception e)
                {
                    _changed.UnionWith(changed);
                    batch.TrySetException(e);
                }
            }
        }
        finally
        {
            _saving = false;
        }
    }
}
