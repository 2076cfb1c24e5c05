using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Routing;
using Orchestrator.Redis;
using Orleans.Configuration;

namespace Orchestrator.Client;

public static class OrchestratorClientHosting
{
    /// <summary>Adds an Orleans client that reaches the cluster's gateways (<c>Cluster:Gateway</c>), and <see cref="OrchestratorClient"/>.</summary>
    public static IHostApplicationBuilder AddOrchestratorClient(this IHostApplicationBuilder builder)
    {
        var cluster = builder.Configuration.GetSection(ClusterConnectionOptions.SectionName).Get<ClusterConnectionOptions>() ?? new();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            if (builder.Configuration[RedisConnection.SettingKey] is { Length: > 0 } redis)
            {
                client.UseRedisClustering(o => o.ConfigurationOptions = RedisConnection.Parse(redis));
            }
            else
            {
                client.UseStaticClustering(cluster.GatewayEndpoints());
            }

            client.UseConnectionRetryFilter(BoundedRetry(cluster.ConnectAttempts));
            client.AddOutgoingGrainCallFilter(new AccessTokenCallFilter(
                builder.Configuration[AccessTokenCallFilter.SettingKey] is { Length: > 0 } configured ? configured : AccessTokenFile.TryRead(AccessTokenFile.DefaultPath)));
            if (ClusterTls.Load(cluster.Tls) is { } tls)
            {
                client.Configure<ClientConnectionOptions>(o => o.ConfigureConnection(connection =>
                    connection.UseClientTls(tls.ForClient("gateway", ClusterTls.Logger(connection)))));
            }
        });
        builder.Services.AddContractCopiers();
        builder.Services.AddTaskRouting(builder.Configuration);
        builder.Services.AddSingleton<OrchestratorClient>();
        return builder;
    }

    /// <summary>Orleans' client retries the first connection forever by default; a person at a terminal wants an answer.</summary>
    private static Func<Exception, CancellationToken, Task<bool>> BoundedRetry(int attempts)
    {
        var failures = 0;
        return async (_, cancellationToken) =>
        {
            if (Interlocked.Increment(ref failures) >= attempts)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            return true;
        };
    }

    /// <summary>routing.json, appsettings.json and environment variables, as every host of ours reads them.</summary>
    public static IConfigurationBuilder AddOrchestratorConfiguration(this IConfigurationBuilder configuration) => configuration
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "routing.json"), optional: false)
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables();
}

/// <summary>A started client host: <c>await using var connection = await OrchestratorConnection.ConnectAsync();</c></summary>
public sealed class OrchestratorConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private OrchestratorConnection(IHost host)
    {
        _host = host;
        Client = host.Services.GetRequiredService<OrchestratorClient>();
    }

    public OrchestratorClient Client { get; }

    /// <summary>Connects to the gateways in <c>Cluster:Gateway</c> (default 127.0.0.1:30000).</summary>
    public static async Task<OrchestratorConnection> ConnectAsync(IConfiguration? configuration = null, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddOrchestratorConfiguration();
        if (configuration is not null)
        {
            builder.Configuration.AddConfiguration(configuration);
        }

        builder.Logging.AddFilter("Orleans", LogLevel.Error).AddFilter("Microsoft", LogLevel.Warning);
        builder.AddOrchestratorClient();
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>(); // Ctrl+C is the calling program's
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            var gateway = builder.Configuration[RedisConnection.SettingKey] is { Length: > 0 } redis
                ? $"the gateways registered in Redis at {RedisConnection.Redacted(redis)}"
                : builder.Configuration[$"{ClusterConnectionOptions.SectionName}:Gateway"] ?? new ClusterConnectionOptions().Gateway;
            var tls = builder.Configuration.GetSection(ClusterTlsOptions.SectionName).Get<ClusterTlsOptions>() ?? new();
            var tlsHint = tls.Enabled
                ? $" If the silo is up, the TLS handshake failed: its certificate must come from the CA in {tls.CertificateAuthority}, and it must trust the CA of {tls.Certificate}."
                : " If the cluster requires TLS, give this client its certificate: Cluster__Tls__Certificate, Cluster__Tls__Key and Cluster__Tls__CertificateAuthority (see docker/make-dev-certs.sh).";
            throw new OrchestratorUnreachableException(
                $"Could not reach an orchestrator at {gateway}. Start one with `dotnet run --project silo`, or set Cluster__Gateway to a running silo's gateway.{tlsHint}", e);
        }

        return new OrchestratorConnection(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

public sealed class OrchestratorUnreachableException(string message, Exception inner) : Exception(message, inner);
