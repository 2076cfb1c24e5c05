using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Orchestrator.Hosting;

/// <summary>
/// Stops a silo at start when its silo or gateway port is already served. Without it, a second silo started on the
/// ports of a running one shares them (the listening sockets allow address reuse) and answers some of the clients.
/// </summary>
internal sealed class PortsInUseCheck(IOptions<EndpointOptions> endpoints) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(1);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(PortsInUseCheck), ServiceLifecycleStage.First, async cancellationToken =>
        {
            var options = endpoints.Value;
            await ProbeAsync(options.AdvertisedIPAddress, options.SiloPort, "Cluster:SiloPort", cancellationToken);
            await ProbeAsync(options.AdvertisedIPAddress, options.GatewayPort, "Cluster:GatewayPort", cancellationToken);
        });

    /// <summary>
    /// Something that accepts a connection on the port serves it already. A connect, unlike a trial bind, is not fooled
    /// by address-reuse options and does not trip over a predecessor's connections in TIME_WAIT.
    /// </summary>
    private static async Task ProbeAsync(IPAddress? advertised, int port, string setting, CancellationToken cancellationToken)
    {
        if (port <= 0)
        {
            return;
        }

        foreach (var address in new[] { IPAddress.Loopback, advertised }.OfType<IPAddress>().Distinct())
        {
            using var client = new TcpClient(address.AddressFamily);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(ConnectWait);
            try
            {
                await client.ConnectAsync(address, port, wait.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                continue; // nobody serves it there
            }

            throw new InvalidOperationException(
                $"Port {port} ({setting}) is already served at {address}, perhaps by another silo. Stop it, or give this silo other ports ({setting.Replace(":", "__", StringComparison.Ordinal)}=…).");
        }
    }
}
