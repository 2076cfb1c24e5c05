using Orchestrator.Contracts;

namespace Orchestrator.Core.Routing;

/// <summary>The order between a plan's domains: which start after which, refused when it has a cycle.</summary>
public static class DomainOrder
{
    /// <summary>
    /// For each of <paramref name="domains"/> (in plan order), the domains it starts after: the explicit orderings
    /// (each must name two of the plan's domains) and the rules whose two domains are both in the plan.
    /// Throws <see cref="InvalidTaskRequestException"/> for an ordering outside the plan or a cycle.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Resolve(
        IReadOnlyList<string> domains, IEnumerable<DomainDependency> explicitOrder, IReadOnlyDictionary<string, IReadOnlyList<string>> rules)
    {
        var after = domains.ToDictionary(d => d, _ => new List<string>());
        foreach (var dependency in explicitOrder)
        {
            var outside = new[] { dependency.Domain, dependency.After }.FirstOrDefault(d => !after.ContainsKey(d));
            if (outside is not null)
            {
                throw new InvalidTaskRequestException(
                    $"The ordering {dependency} names {outside}, which is not in this task's plan ({string.Join(", ", domains)}).");
            }

            Add(after, dependency.Domain, dependency.After);
        }

        foreach (var (domain, dependencies) in rules)
        {
            foreach (var dependency in dependencies.Where(d => after.ContainsKey(domain) && after.ContainsKey(d)))
            {
                Add(after, domain, dependency);
            }
        }

        if (FindCycle(after) is { } cycle)
        {
            throw new InvalidTaskRequestException(
                $"The domains' order has a cycle: {string.Join(" after ", cycle)}; none of them could ever start. Drop one of these orderings.");
        }

        return after.ToDictionary(a => a.Key, a => (IReadOnlyList<string>)a.Value);
    }

    /// <summary>A cycle as the domains along it, first repeated at the end (frontend, backend, frontend); null when there is none.</summary>
    public static IReadOnlyList<string>? FindCycle(IReadOnlyDictionary<string, List<string>> after)
    {
        var done = new HashSet<string>();
        var path = new List<string>();
        foreach (var start in after.Keys)
        {
            if (Visit(start) is { } cycle)
            {
                return cycle;
            }
        }

        return null;

        IReadOnlyList<string>? Visit(string domain)
        {
            if (path.IndexOf(domain) is var at and >= 0)
            {
                return [.. path[at..], domain];
            }

            if (!done.Add(domain))
            {
                return null;
            }

            path.Add(domain);
            foreach (var next in after.GetValueOrDefault(domain) ?? [])
            {
                if (Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }

            path.RemoveAt(path.Count - 1);
            return null;
        }
    }

    /// <summary>The plan's domains in stages: each stage starts once the stages before it completed (1 for those that wait for none).</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Stages(TaskPlan plan)
    {
        var stage = new Dictionary<string, int>();
        var byDomain = plan.Subtasks.ToDictionary(s => s.Domain);
        int StageOf(string domain) => stage.TryGetValue(domain, out var known)
            ? known
            : stage[domain] = 1 + byDomain[domain].After.Select(StageOf).DefaultIfEmpty(0).Max();
        foreach (var subtask in plan.Subtasks)
        {
            StageOf(subtask.Domain);
        }

        return plan.Subtasks.GroupBy(s => stage[s.Domain]).OrderBy(g => g.Key)
            .Select(g => (IReadOnlyList<string>)g.Select(s => s.Domain).ToArray()).ToArray();
    }

    private static void Add(Dictionary<string, List<string>> after, string domain, string dependency)
    {
        if (!after[domain].Contains(dependency))
        {
            after[domain].Add(dependency);
        }
    }
}
