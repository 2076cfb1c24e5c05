using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Client;
using Orchestrator.Redis;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Orchestrator.Hosting;

/// <summary>One way to host a silo, shared by <c>silo/</c>, the CLI's embedded run and the tests.</summary>
public static class OrchestratorSiloHost
{
    /// <summary>
    /// Makes <paramref name="builder"/> an orchestrator silo on 127.0.0.1: cluster ids and ports from the
    /// <c>Cluster</c> section (ports may be overridden), grains, storage, transport and runtime from <c>AddOrchestrator</c>.
    /// </summary>
    public static TBuilder AddOrchestratorSilo<TBuilder>(this TBuilder builder, int? siloPort = null, int? gatewayPort = null, Action<ISiloBuilder>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        // routing.json holds the default tables; every other source may override them.
        builder.Configuration.Sources.Insert(0, new JsonConfigurationSource
        {
            Path = "routing.json",
            Optional = false,
            FileProvider = new PhysicalFileProvider(AppContext.BaseDirectory),
        });

        var cluster = builder.Configuration.GetSection(ClusterConnectionOptions.SectionName).Get<ClusterConnectionOptions>() ?? new();
        var silo = siloPort ?? cluster.SiloPort;
        var gateway = gatewayPort ?? cluster.GatewayPort;
        var tls = ClusterTls.Load(cluster.Tls);
        builder.UseOrleans(orleans =>
        {
            if (builder.Configuration[RedisConnection.SettingKey] is { Length: > 0 } redis)
            {
                // Membership in Redis: any number of silos, each with its own ports, find each other there.
                orleans.UseRedisClustering(o => o.ConfigurationOptions = RedisConnection.Parse(redis));
                orleans.Services.AddOptions<RedisClusteringOptions>().Configure<IConnectionMultiplexer>((o, shared) => o.CreateMultiplexer = _ => Task.FromResult((shared, true)));
                orleans.ConfigureEndpoints(IPAddress.Parse(cluster.AdvertisedAddress), silo, gateway);
            }
            else
            {
                orleans.UseLocalhostClustering(silo, gateway, new IPEndPoint(IPAddress.Loopback, silo), cluster.ServiceId, cluster.ClusterId);
            }

            orleans.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            // Failure detection as Orleans defines it (ProbeTimeout, NumMissedProbesLimit, …): how soon a silo that stopped answering is declared dead.
            orleans.Services.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection($"{ClusterConnectionOptions.SectionName}:Membership"));
            if (tls is not null)
            {
                UseMutualTls(orleans, tls);
            }

            orleans.AddOrchestrator(builder.Configuration);
            configure?.Invoke(orleans);
        });
        builder.Services.AddSingleton<OrchestratorClient>();
        return builder;
    }

    /// <summary>
    /// TLS on every Orleans connection, a certificate from the cluster's CA required on both ends. The silo port
    /// takes only silo certificates (server and client authentication), so a client's certificate reaches the
    /// gateway and never talks to a silo as one of its peers.
    /// </summary>
    private static void UseMutualTls(ISiloBuilder orleans, ClusterTls tls) =>
        orleans.Configure<SiloConnectionOptions>(o =>
        {
            o.ConfigureSiloInboundConnection(connection => connection.UseServerTls(
                tls.ForServer("silo", ClusterTls.Logger(connection), ClusterTls.ServerAuthentication, ClusterTls.ClientAuthentication)));
            o.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(
                tls.ForServer("gateway", ClusterTls.Logger(connection), ClusterTls.ClientAuthentication)));
            o.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(tls.ForClient("silo", ClusterTls.Logger(connection))));
        });

    /// <summary>A port on 127.0.0.1 that nobody listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
