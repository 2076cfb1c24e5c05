namespace Orchestrator.Web;

/// <summary>The silo's web side, bound from the <c>Web</c> section.</summary>
public sealed class WebOptions
{
    public const string SectionName = "Web";

    /// <summary>Where the HTTP API, task view, health endpoints and dashboard listen. Two silos on one machine need two.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>
    /// When set, every request but <c>/health</c> must carry it (see <see cref="AccessMiddleware"/>). When not set, the
    /// silo requires the access token from <see cref="TokenFile"/> instead and listens on loopback addresses only.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>Where the access token is kept when no <see cref="ApiKey"/> is set; default <c>Orchestrator.Client.AccessTokenFile.DefaultPath</c>.</summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// The host names (without port) requests may name in <c>Host</c>; default the loopback names
    /// <c>localhost</c>, <c>127.0.0.1</c> and <c>[::1]</c>. Anything else is refused, so a page that rebinds its own
    /// DNS name to this machine cannot reach the API. List the names users reach the silo by when it serves beyond loopback.
    /// </summary>
    public string[] AllowedHosts { get; set; } = [];

    /// <summary>The Orleans dashboard at /dashboard.</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>The Prometheus scrape endpoint at /metrics.</summary>
    public bool Metrics { get; set; }

    public WebLimitsOptions Limits { get; set; } = new();

    public IReadOnlyList<string> EffectiveAllowedHosts => AllowedHosts.Length > 0 ? AllowedHosts : ["localhost", "127.0.0.1", "[::1]"];
}

/// <summary>Bounds against an abusive (or runaway) client, per credential: <c>Web:Limits</c>.</summary>
public sealed class WebLimitsOptions
{
    /// <summary>Task submissions and retries a credential may make per minute; more get 429 with Retry-After.</summary>
    public int SubmissionsPerMinute { get; set; } = 60;

    /// <summary>The largest request body Kestrel accepts, chunked or not; larger gets 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 256 * 1024;

    /// <summary>Event streams (<c>/api/events</c>, <c>/api/tasks/{id}/events</c>) a credential may hold open at once; more get 429.</summary>
    public int EventStreamsPerCredential { get; set; } = 16;
}
