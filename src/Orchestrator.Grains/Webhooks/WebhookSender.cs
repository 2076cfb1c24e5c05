using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Grains.Webhooks;

/// <summary>What one attempt came to: delivered (2xx), worth another attempt, or final.</summary>
public enum WebhookOutcome
{
    Delivered,
    Retry,
    Final,
}

public sealed record WebhookAttemptResult(WebhookOutcome Outcome, int? StatusCode, string? Error);

/// <summary>
/// Sends webhooks. Every connection resolves the host itself and connects only to an address the guard allows —
/// the address checked is the address connected to, so a name that re-resolves to an inside address (DNS rebinding)
/// is refused. Redirects are not followed and no proxy is used (either would reach an address nobody checked).
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private readonly HttpClient _http;
    private readonly WebhookOptions _options;
    private readonly WebhookSecret _secret;
    private readonly TimeProvider _time;

    public WebhookSender(IOptions<WebhookOptions> options, WebhookSecret secret, TimeProvider time)
    {
        _options = options.Value;
        _secret = secret;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each attempt has its own bound (AttemptTimeout)
        };
    }

    public async Task<WebhookAttemptResult> SendAsync(string url, string deliveryId, string eventName, byte[] body, CancellationToken cancellationToken)
    {
        if (_secret.Key is not { } key)
        {
            return new(WebhookOutcome.Final, null, "no webhook secret is configured any more (Webhooks:Secret); not sent unsigned");
        }

        Uri uri;
        try
        {
            uri = WebhookAddress.Parse(url);
            WebhookAddress.CheckHost(uri, _options.AllowPrivateNetworks);
        }
        catch (InvalidTaskRequestException e)
        {
            return new(WebhookOutcome.Final, null, e.Message);
        }

        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.UserAgent.ParseAdd("Orchestrator-Webhook/1");
        if (uri.UserInfo.Length > 0)
        {
            // Credentials in the URL (https://user:password@host/…) are the receiver's basic auth; HttpClient would drop them.
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(uri.UserInfo))));
        }

        request.Headers.Add(WebhookSignature.DeliveryHeader, deliveryId);
        request.Headers.Add(WebhookSignature.EventHeader, eventName);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(key, timestamp, body));

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(_options.AttemptTimeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, bound.Token);
            var code = (int)response.StatusCode;
            return code switch
            {
                >= 200 and < 300 => new(WebhookOutcome.Delivered, code, null),
                >= 300 and < 400 => new(WebhookOutcome.Final, code, "the receiver redirected; redirects are not followed"),
                408 or 429 or >= 500 => new(WebhookOutcome.Retry, code, $"the receiver answered {code}"),
                _ => new(WebhookOutcome.Final, code, $"the receiver answered {code}"),
            };
        }
        catch (HttpRequestException e) when (e.InnerException is WebhookRefusedException refused)
        {
            return new(WebhookOutcome.Final, null, refused.Message);
        }
        catch (HttpRequestException e)
        {
            return new(WebhookOutcome.Retry, null, e.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(WebhookOutcome.Retry, null, $"no answer within {_options.AttemptTimeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Resolves, checks every address, and connects to the checked ones only.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var uri = context.InitialRequestMessage.RequestUri!;
        try
        {
            WebhookAddress.CheckAddresses(uri, addresses, _options.AllowPrivateNetworks);
        }
        catch (InvalidTaskRequestException e)
        {
            throw new WebhookRefusedException(e.Message);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The receiver's address is one the guard refuses (found when connecting).</summary>
public sealed class WebhookRefusedException(string message) : Exception(message);
