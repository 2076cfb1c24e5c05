using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Grains.Webhooks;

/// <summary>
/// The silo's check of a task's webhook at submit: the configured default when the task names none, a secret to sign
/// with, and an address outside the orchestrator's own network (checked again on every delivery, after resolution).
/// </summary>
public sealed class WebhookGuard(IOptions<WebhookOptions> options, WebhookSecret secret)
{
    /// <summary>How long submit waits for the URL's name to resolve; an unresolved name is checked at delivery.</summary>
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The request with its webhook URL settled, or <see cref="InvalidTaskRequestException"/> saying why it is refused.</summary>
    public async Task<TaskSubmission> PrepareAsync(TaskSubmission request, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (request.NotifyUrl is null)
        {
            // The default was checked at start; its name is resolved, as every name, at delivery.
            return string.IsNullOrWhiteSpace(settings.DefaultUrl) ? request : request with { NotifyUrl = settings.DefaultUrl.Trim() };
        }

        if (secret.Key is null)
        {
            throw new InvalidTaskRequestException(
                "This orchestrator has no webhook secret, so it cannot sign webhooks and does not send them unsigned: its operator sets "
                + "Webhooks:Secret (Webhooks__Secret) or Webhooks:SecretFile. Or submit without a notify URL.");
        }

        var uri = WebhookAddress.Parse(request.NotifyUrl);
        WebhookAddress.CheckHost(uri, settings.AllowPrivateNetworks);
        if (uri.HostNameType == UriHostNameType.Dns)
        {
            WebhookAddress.CheckAddresses(uri, await ResolveAsync(uri.IdnHost, cancellationToken), settings.AllowPrivateNetworks);
        }

        return request;
    }

    private static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(ResolveTimeout);
        try
        {
            return await Dns.GetHostAddressesAsync(host, bound.Token);
        }
        catch (Exception e) when (e is SocketException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return []; // not resolvable now: the receiver may appear later; every delivery resolves and checks again
        }
    }
}
