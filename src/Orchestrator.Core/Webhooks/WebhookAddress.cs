using System.Net;
using System.Net.Sockets;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Webhooks;

/// <summary>
/// What a webhook may be sent to (the SSRF guard): only http(s), and never an address inside the orchestrator's own
/// reach — loopback, link-local, cloud metadata, private ranges — unless the operator allows private networks.
/// </summary>
public static class WebhookAddress
{
    public const int MaxUrlLength = 2048;

    /// <summary>Cloud metadata services (AWS, GCP, Azure on IPv4; AWS on IPv6): refused even where private networks are allowed.</summary>
    private static readonly IPAddress[] Metadata = [IPAddress.Parse("169.254.169.254"), IPAddress.Parse("fd00:ec2::254")];

    /// <summary>The URL as given, if it is an absolute http(s) URL; otherwise <see cref="InvalidTaskRequestException"/> saying what to give.</summary>
    public static Uri Parse(string url)
    {
        if (url.Length > MaxUrlLength)
        {
            throw new InvalidTaskRequestException($"The notify URL is {url.Length} characters long; the limit is {MaxUrlLength}.");
        }

        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
        {
            throw new InvalidTaskRequestException($"The notify URL '{Redacted(url)}' is not an absolute http:// or https:// URL: webhooks are sent only over HTTP(S).");
        }

        return uri;
    }

    /// <summary>Why <paramref name="address"/> may not receive webhooks, or null when it may.</summary>
    public static string? Refusal(IPAddress address, bool allowPrivateNetworks)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            // The scope takes part in IPAddress equality (so ::1%1 is not IsLoopback), yet the kernel ignores it for
            // any but a link-local address: judged without it, and refused unless it is link-local (refused anyway).
            address = new IPAddress(address.GetAddressBytes());
            if (!address.IsIPv6LinkLocal)
            {
                return "an address with a scope id";
            }
        }

        if (Metadata.Contains(address))
        {
            return "a cloud metadata address";
        }

        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return bytes switch
            {
                [169, 254, ..] => "a link-local address",
                [0, ..] => "an unspecified address",
                [>= 224, ..] => "a multicast or reserved address",
                [127, ..] when !allowPrivateNetworks => "a loopback address",
                [10, ..] or [172, >= 16 and <= 31, ..] or [192, 168, ..] or [100, >= 64 and <= 127, ..] when !allowPrivateNetworks => "a private address",
                [192, 0, 0 or 2, ..] or [198, 18 or 19, ..] or [198, 51, 100, ..] or [203, 0, 113, ..] when !allowPrivateNetworks => "a reserved address",
                _ => null,
            };
        }

        return address switch
        {
            _ when address.IsIPv6LinkLocal => "a link-local address",
            _ when address.Equals(IPAddress.IPv6Any) => "an unspecified address",
            _ when address.IsIPv6Multicast => "a multicast address",
            _ when IPAddress.IsLoopback(address) && !allowPrivateNetworks => "a loopback address",
            _ when (bytes[0] & 0xfe) == 0xfc && !allowPrivateNetworks => "a private address",
            _ when address.IsIPv6SiteLocal && !allowPrivateNetworks => "a private address",
            _ => null,
        };
    }

    /// <summary>
    /// Refuses, before anything is resolved, a host that names a refused address (a literal IP, or <c>localhost</c>);
    /// names are checked again on every delivery, after resolution.
    /// </summary>
    public static void CheckHost(Uri uri, bool allowPrivateNetworks)
    {
        var host = uri.IdnHost.Trim('[', ']').TrimEnd('.');
        if (IPAddress.TryParse(host, out var literal))
        {
            if (Refusal(literal, allowPrivateNetworks) is { } reason)
            {
                throw Refused(uri, reason);
            }
        }
        else if (!allowPrivateNetworks && (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)))
        {
            throw Refused(uri, "a loopback address");
        }
    }

    /// <summary>Checks the addresses a host resolves to: every one must be allowed, or the URL is refused.</summary>
    public static void CheckAddresses(Uri uri, IEnumerable<IPAddress> addresses, bool allowPrivateNetworks)
    {
        foreach (var address in addresses)
        {
            if (Refusal(address, allowPrivateNetworks) is { } reason)
            {
                throw Refused(uri, $"{reason} ({address})");
            }
        }
    }

    public static InvalidTaskRequestException Refused(Uri uri, string reason) => new(
        $"The notify URL '{Redacted(uri)}' points to {reason}; webhooks are not sent inside the orchestrator's own network."
        + " An operator can allow loopback and private networks with Webhooks:AllowPrivateNetworks=true (link-local and metadata addresses stay refused).");

    /// <summary>The URL without credentials, query or fragment, safe to show and log.</summary>
    public static string Redacted(Uri uri) =>
        $"{uri.Scheme}://{uri.IdnHost}{(uri.IsDefaultPort ? "" : ":" + uri.Port)}{uri.AbsolutePath}{(uri.Query.Length > 1 ? "?…" : "")}";

    private static string Redacted(string url) =>
        Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Host) ? Redacted(uri) : url.Split('?', '#')[0];
}
