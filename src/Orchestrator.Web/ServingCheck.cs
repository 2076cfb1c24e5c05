using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.Client;

namespace Orchestrator.Web;

/// <summary>
/// Once the web server listens: without a configured API key, every address it actually bound (from Web:Urls,
/// Kestrel:Endpoints, ASPNETCORE_URLS or --urls alike) must be a loopback one, or the silo stops; and a silo that uses
/// the access token prints the link that opens the task view with it, once, as Jupyter does.
/// </summary>
internal static partial class ServingCheck
{
    public static void CheckWhenStarted(this WebApplication app, WebOptions web)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var token = app.Services.GetRequiredService<AccessToken>();
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];
            if (token.Generated && addresses.Where(a => !IsLoopback(a)).ToArray() is { Length: > 0 } beyond)
            {
                LogListensBeyondLoopback(app.Logger, string.Join(", ", beyond));
                Environment.ExitCode = 1;
                app.Lifetime.StopApplication();
                return;
            }

            if (token.Generated && addresses.FirstOrDefault() is { } first)
            {
                LogOpenWithToken(app.Logger, $"{first.TrimEnd('/')}/?token={token.Value}", web.TokenFile ?? AccessTokenFile.DefaultPath);
            }
        });
    }

    /// <summary>Also checked on Web:Urls before start, so that a plain misconfiguration never listens at all.</summary>
    public static bool IsLoopback(string url) =>
        Uri.TryCreate(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
        && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip)));

    [LoggerMessage(Level = LogLevel.Critical,
        Message = "The web server listens beyond loopback ({Addresses}) without an API key: set Web:ApiKey (Web__ApiKey), or listen on http://127.0.0.1 only (Web:Urls, Kestrel:Endpoints). Stopping.")]
    private static partial void LogListensBeyondLoopback(ILogger logger, string addresses);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "To open the task view, use this link (it holds the access token; the token is also in {TokenFile}, mode 0600):\n    {Link}")]
    private static partial void LogOpenWithToken(ILogger logger, string link, string tokenFile);
}
