namespace Orchestrator.Core.Routing;

/// <summary>The routing tables, bound from the <c>Routing</c> configuration section (routing.json ships the defaults).</summary>
public sealed class RoutingOptions
{
    public const string SectionName = "Routing";

    /// <summary>Domain types by name; their <see cref="DomainRoutingOptions.Order"/> is the order of a plan's domains.</summary>
    public Dictionary<string, DomainRoutingOptions> Domains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Where a task goes when nothing matches; null makes that an error.</summary>
    public string? DefaultDomain { get; set; }

    /// <summary>Orderings as data: a domain and the domains it starts after, applied when a plan holds both.</summary>
    public Dictionary<string, List<string>> After { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

public sealed class DomainRoutingOptions
{
    /// <summary>Where the domain stands in plans and listings (configuration sorts keys, so order is explicit). Lower first.</summary>
    public int Order { get; set; } = 1000;

    public List<string> Keywords { get; set; } = [];

    /// <summary>Worker specialisations inside the domain, each with its keywords.</summary>
    public Dictionary<string, List<string>> Workers { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
