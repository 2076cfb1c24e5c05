using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Orchestrator.Client;

namespace Orchestrator.Web;

/// <summary>
/// Requires the orchestrator's secret (the configured API key, or the generated access token) on everything but the
/// health endpoints, which orchestrators of containers probe without credentials.
/// <list type="bullet">
/// <item>The <c>X-Api-Key</c> header authorizes everything.</item>
/// <item>A <c>?token=</c> (or <c>?key=</c>) link, opened once in a browser, is exchanged for a session cookie and a
/// redirect to the same address without it, so the secret leaves the address bar and the history.</item>
/// <item>The session cookie authorizes reading only (GET/HEAD: the task view, its event streams, the dashboard): a
/// state change always needs the header, which no other site can make a browser send.</item>
/// </list>
/// </summary>
public sealed class AccessMiddleware
{
    public const string Header = "X-Api-Key";

    /// <summary>Who the caller is, for limits per credential: a fingerprint of the secret it proved to hold.</summary>
    public const string CredentialItem = "orchestrator.credential";

    private const string Cookie = "orchestrator-session";
    private static readonly string[] LinkParameters = ["token", "key"];

    private readonly RequestDelegate _next;
    private readonly byte[] _secretHash;
    private readonly string _session;
    private readonly string _fingerprint;

    public AccessMiddleware(RequestDelegate next, AccessToken secret)
    {
        _next = next;
        _secretHash = SHA256.HashData(Encoding.UTF8.GetBytes(secret.Value));
        // The cookie holds a value derived from the secret, not the secret: it cannot be replayed as the header.
        _session = Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret.Value), "orchestrator browser session"u8));
        _fingerprint = Convert.ToHexString(_secretHash)[..16];
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Path.StartsWithSegments("/health"))
        {
            await _next(context);
            return;
        }

        var readOnly = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);
        if (readOnly && LinkParameters.FirstOrDefault(request.Query.ContainsKey) is { } parameter)
        {
            await ExchangeLinkAsync(context, request.Query[parameter].ToString());
            return;
        }

        var header = request.Headers[Header].ToString();
        var cookie = request.Cookies[Cookie];
        var authorized = header.Length > 0 ? Matches(header) : readOnly && cookie is not null && SameText(cookie, _session);
        if (!authorized)
        {
            await Problem.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", header.Length == 0 && cookie is not null && !readOnly
                ? $"A state change needs the {Header} header; the browser session cookie only lets the task view read."
                : $"This orchestrator requires its access token (or configured API key): send the {Header} header, or open ?token=<token> once in a browser. "
                  + "Without Web:ApiKey the token is in the file the silo printed at start (default ~/.local/state/orchestrator/token).");
            return;
        }

        context.Items[CredentialItem] = _fingerprint;
        await _next(context);
    }

    /// <summary>A valid link sets the session cookie and redirects (303) to the same address without the secret.</summary>
    private async Task ExchangeLinkAsync(HttpContext context, string given)
    {
        if (!Matches(given))
        {
            await Problem.WriteAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized",
                "The token in this link is not this orchestrator's: open the link the silo printed at start, or use the token from its token file.");
            return;
        }

        context.Response.Cookies.Append(Cookie, _session, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = context.Request.IsHttps,
            Path = "/",
        });
        var rest = QueryString.Create(context.Request.Query.Where(p => !LinkParameters.Contains(p.Key)));
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = (context.Request.PathBase + context.Request.Path + rest).ToString();
    }

    private bool Matches(string given) => CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _secretHash);

    private static bool SameText(string a, string b) => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
