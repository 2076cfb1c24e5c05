namespace Orchestrator.Web;

/// <summary>The silo's web side, bound from the <c>Web</c> section.</summary>
public sealed class WebOptions
{
    public const string SectionName = "Web";

    /// <summary>Where the HTTP API, task view, health endpoints and dashboard listen. Two silos on one machine need two.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>
    /// When set, every request to /api, the task view and the dashboard must carry it (header <c>X-Api-Key</c>, or
    /// <c>?key=</c> once in a browser, which then keeps it in a cookie). When not set, only 127.0.0.1 may be listened on.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>The Orleans dashboard at /dashboard.</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>The Prometheus scrape endpoint at /metrics.</summary>
    public bool Metrics { get; set; }
}
