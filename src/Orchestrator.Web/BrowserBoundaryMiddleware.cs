using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Orchestrator.Web;

/// <summary>
/// What other web pages in the user's browser may do to this silo: nothing. Every response carries headers that keep
/// it out of frames and foreign scripts; a request must name a host this silo serves (so a page that rebinds its own
/// DNS name to this machine is refused), must not come from another origin, and a state change must be JSON (so no
/// form or <c>text/plain</c> post, which browsers send cross-site without asking, gets through).
/// <c>/health</c> is left alone: container probes name whatever host they reach the silo by.
/// </summary>
public sealed class BrowserBoundaryMiddleware(RequestDelegate next, WebOptions web)
{
    private const string Policy = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    // The Orleans dashboard's bundle sets inline styles and loads fonts and images as data: URLs; scripts stay 'self'.
    private const string DashboardPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    private readonly HashSet<string> _hosts = new(web.EffectiveAllowedHosts, StringComparer.OrdinalIgnoreCase);

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = request.Path.StartsWithSegments("/dashboard") ? DashboardPolicy : Policy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        if (request.Path.StartsWithSegments("/health"))
        {
            await next(context);
            return;
        }

        if (!_hosts.Contains(request.Host.Host))
        {
            await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "Unknown host",
                $"This orchestrator serves the host names {string.Join(", ", _hosts)}, not '{request.Host.Host}'. "
                + "If users reach it by another name, add that name to Web:AllowedHosts.");
            return;
        }

        if (request.Headers.Origin.ToString() is { Length: > 0 } origin && !IsOwnOrigin(request, origin))
        {
            await Problem.WriteAsync(context, StatusCodes.Status403Forbidden, "Foreign origin",
                $"Requests from pages of {origin} are refused; only this orchestrator's own pages ({request.Scheme}://{request.Host}) may call it.");
            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !IsJson(request.ContentType))
        {
            await Problem.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"A {request.Method} must send Content-Type: application/json (even with an empty body), not '{request.ContentType}'.");
            return;
        }

        await next(context);
    }

    private static bool IsOwnOrigin(HttpRequest request, string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var from)
        && Uri.TryCreate($"{request.Scheme}://{request.Host}", UriKind.Absolute, out var own)
        && Uri.Compare(from, own, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0;

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type) && type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);
}
