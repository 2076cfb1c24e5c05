using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Orchestrator.Web;

/// <summary>
/// Requires the configured API key on everything but the health endpoints (which orchestrators of containers probe
/// without credentials). The key comes as the <c>X-Api-Key</c> header, as <c>?key=</c> (kept in a cookie for the
/// browser pages, whose own requests cannot add headers), or as that cookie.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, string apiKey)
{
    public const string Header = "X-Api-Key";
    private const string Cookie = "orchestrator-key";

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments("/health"))
        {
            await next(context);
            return;
        }

        var fromQuery = context.Request.Query["key"].ToString();
        var given = context.Request.Headers[Header].ToString() is { Length: > 0 } header ? header
            : fromQuery.Length > 0 ? fromQuery
            : context.Request.Cookies[Cookie] ?? "";
        if (!Matches(given))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            await context.Response.WriteAsJsonAsync(new
            {
                type = "https://tools.ietf.org/html/rfc9110#section-15.5.2",
                title = "Unauthorized",
                status = 401,
                detail = $"This orchestrator requires its API key: send the {Header} header (or ?key= in a browser).",
            }, options: null, contentType: "application/problem+json");
            return;
        }

        if (fromQuery.Length > 0)
        {
            context.Response.Cookies.Append(Cookie, fromQuery, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict });
        }

        await next(context);
    }

    private bool Matches(string given) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)));
}
