using Orchestrator.Contracts;

namespace Orchestrator.Grains.Tasks;

/// <summary>The domains' diffs: each subtask keeps its own (see <see cref="SubtaskGrain"/>), read only when asked for.</summary>
public sealed partial class TaskGrain
{
    public async Task<IReadOnlyList<DomainDiff>> GetDiff(string? domain)
    {
        EnsureExists();
        var parts = S.Subtasks.Where(s => domain is null || s.Domain == domain).ToArray();
        if (parts.Length == 0 && domain is not null)
        {
            throw new ArgumentException($"Task {TaskId} has no part for the domain '{domain}' (its domains: {string.Join(", ", S.Subtasks.Select(s => s.Domain))}).");
        }

        var diffs = await Task.WhenAll(parts.Select(s => GrainFactory.Reference<ISubtaskGrain>(s.TaskId).GetDiff()));
        return diffs.OfType<DomainDiff>().ToArray();
    }
}
