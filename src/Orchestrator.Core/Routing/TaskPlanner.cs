using Microsoft.Extensions.Options;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Routing;

/// <summary>
/// Turns a task into a plan: which domains, and what each gets. Each requirement is routed on its own text;
/// a requirement that matches no domain goes to the domains the description matched. Inside each domain the
/// worker specialisations are chosen by their keywords over the description and that domain's requirements.
/// </summary>
public sealed class TaskPlanner
{
    private readonly IReadOnlyList<DomainRoute> _domains;
    private readonly string? _defaultDomain;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> _after;

    public TaskPlanner(IOptions<RoutingOptions> options)
    {
        var value = options.Value;
        _domains = value.Domains
            .OrderBy(d => d.Value.Order).ThenBy(d => d.Key, StringComparer.Ordinal)
            .Select(d => new DomainRoute(
                d.Key.ToLowerInvariant(),
                new KeywordMatcher(d.Value.Keywords),
                d.Value.Workers.Select(w => (w.Key, new KeywordMatcher(w.Value))).ToArray()))
            .ToArray();
        _defaultDomain = string.IsNullOrWhiteSpace(value.DefaultDomain) ? null : value.DefaultDomain.Trim().ToLowerInvariant();
        if (_domains.Count == 0)
        {
            throw new InvalidOperationException("No domains are configured in the 'Routing:Domains' section (routing.json ships the defaults).");
        }

        if (_defaultDomain is not null && !IsKnownDomain(_defaultDomain))
        {
            throw new InvalidOperationException($"Routing:DefaultDomain '{_defaultDomain}' is not a configured domain; known domains: {string.Join(", ", KnownDomains)}.");
        }

        _after = value.After.ToDictionary(
            a => a.Key.Trim().ToLowerInvariant(),
            a => (IReadOnlyList<string>)a.Value.Select(d => d.Trim().ToLowerInvariant()).Distinct().ToArray());
        if (_after.SelectMany(a => a.Value.Prepend(a.Key)).FirstOrDefault(d => !IsKnownDomain(d)) is { } unknown)
        {
            throw new InvalidOperationException($"Routing:After names '{unknown}', which is not a configured domain; known domains: {string.Join(", ", KnownDomains)}.");
        }

        if (DomainOrder.FindCycle(_after.ToDictionary(a => a.Key, a => a.Value.ToList())) is { } cycle)
        {
            throw new InvalidOperationException($"Routing:After has a cycle: {string.Join(" after ", cycle)}.");
        }
    }

    public IReadOnlyList<string> KnownDomains => _domains.Select(d => d.Name).ToArray();

    public bool IsKnownDomain(string name) => _domains.Any(d => d.Name == name.Trim().ToLowerInvariant());

    /// <summary>Plans a validated request; throws <see cref="InvalidTaskRequestException"/> when no domain fits.</summary>
    public TaskPlan Plan(TaskSubmission request)
    {
        var explicitDomains = request.Domains.Select(d => d.Trim().ToLowerInvariant()).ToHashSet();
        var candidates = explicitDomains.Count > 0
            ? _domains.Where(d => explicitDomains.Contains(d.Name)).ToArray()
            : _domains;

        var descriptionTokens = KeywordMatcher.Tokenize(request.Description);
        var descriptionDomains = candidates.Where(d => d.Matcher.Matches(descriptionTokens)).ToList();
        if (descriptionDomains.Count == 0 && explicitDomains.Count > 0)
        {
            descriptionDomains = candidates.ToList();
        }

        var assigned = candidates.ToDictionary(d => d.Name, _ => new List<string>());
        var used = new HashSet<string>(descriptionDomains.Select(d => d.Name));
        var unmatched = new List<string>();
        foreach (var requirement in request.Requirements)
        {
            var tokens = KeywordMatcher.Tokenize(requirement);
            var matched = candidates.Where(d => d.Matcher.Matches(tokens)).ToList();
            if (matched.Count == 0)
            {
                matched = descriptionDomains;
            }

            if (matched.Count == 0)
            {
                unmatched.Add(requirement);
            }

            foreach (var domain in matched)
            {
                assigned[domain.Name].Add(requirement);
                used.Add(domain.Name);
            }
        }

        if (used.Count == 0)
        {
            if (_defaultDomain is null)
            {
                throw new InvalidTaskRequestException(
                    $"No domain matches this task. Known domains: {string.Join(", ", KnownDomains)}. " +
                    "Name one with --domain, mention one of its keywords, or configure Routing:DefaultDomain.");
            }

            used.Add(_defaultDomain);
            assigned.TryAdd(_defaultDomain, []);
            assigned[_defaultDomain].AddRange(unmatched);
        }

        var domains = _domains.Where(d => used.Contains(d.Name)).ToArray();
        var after = DomainOrder.Resolve(domains.Select(d => d.Name).ToArray(), request.After, _after);
        var subtasks = domains
            .Select(d => new SubtaskPlan(d.Name, request.Description, assigned[d.Name], ChooseWorkers(d, request.Description, assigned[d.Name])) { After = after[d.Name] })
            .ToArray();
        return new TaskPlan(subtasks.Select(s => s.Domain).ToArray(), subtasks);
    }

    private static IReadOnlyList<string> ChooseWorkers(DomainRoute domain, string description, IReadOnlyList<string> requirements)
    {
        var tokenSets = requirements.Prepend(description).Select(KeywordMatcher.Tokenize).ToArray();
        return domain.Workers
            .Where(w => tokenSets.Any(tokens => w.Matcher.Matches(tokens)))
            .Select(w => w.Name)
            .ToArray();
    }

    private sealed record DomainRoute(string Name, KeywordMatcher Matcher, IReadOnlyList<(string Name, KeywordMatcher Matcher)> Workers);
}
