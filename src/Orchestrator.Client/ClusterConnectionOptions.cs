using System.Net;

namespace Orchestrator.Client;

/// <summary>Which cluster to join or reach, bound from the <c>Cluster</c> configuration section.</summary>
public sealed class ClusterConnectionOptions
{
    public const string SectionName = "Cluster";

    public string ClusterId { get; set; } = "orchestrator";

    public string ServiceId { get; set; } = "orchestrator";

    /// <summary>Gateways a client connects to, comma-separated <c>host:port</c>.</summary>
    public string Gateway { get; set; } = "127.0.0.1:30000";

    /// <summary>How often a client tries to reach a gateway before it gives up (about half a second apart).</summary>
    public int ConnectAttempts { get; set; } = 4;

    /// <summary>The address a silo advertises to the others and to clients when membership is in Redis.</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>The silo-to-silo port of a silo.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>The client gateway port of a silo.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Mutual TLS between silos and between clients and gateways (<c>Cluster:Tls</c>); off when no certificate is set.</summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    public IPEndPoint[] GatewayEndpoints() => Gateway
        .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(ParseEndpoint)
        .ToArray();

    private static IPEndPoint ParseEndpoint(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is <= 0 or > 65535)
        {
            throw new ArgumentException($"Cluster:Gateway '{text}' is not host:port (for example 127.0.0.1:30000).");
        }

        var host = text[..colon];
        var address = host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new ArgumentException($"Cluster:Gateway host '{host}' does not resolve.");
        return new IPEndPoint(address, port);
    }
}
