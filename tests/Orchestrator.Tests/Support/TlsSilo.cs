using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Client;

namespace Orchestrator.Tests.Support;

/// <summary>
/// A real silo process with mutual TLS on (<c>Cluster:Tls</c> from <c>docker/make-dev-certs.sh</c>), embedded demo
/// domains, and a second CA whose certificates the silo must refuse. Shared by the tests of a class.
/// </summary>
public sealed class TlsSilo : IAsyncLifetime
{
    private readonly TempDirectory _workspace = new("tls-workspace");

    public DevCertificates Certificates { get; private set; } = null!;

    /// <summary>A CA the silo does not trust, with certificates of the same names and usages.</summary>
    public DevCertificates Foreign { get; private set; } = null!;

    public SiloProcess Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Certificates = await DevCertificates.MakeAsync();
        Foreign = await DevCertificates.MakeAsync();
        Silo = await SiloProcess.StartAsync(new Dictionary<string, string>(Certificates.ClusterTls("silo"))
        {
            ["Domains:Workspace"] = _workspace.Path,
            ["Domains:Agent:Command"] = "demo",
        });
    }

    /// <summary>Settings of a client that reaches the silo's gateway directly with the silo's access token, plus <paramref name="tls"/>.</summary>
    public IConfiguration ClientSettings(IReadOnlyDictionary<string, string>? tls = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Cluster:Gateway"] = $"127.0.0.1:{Silo.GatewayPort}",
            [AccessTokenCallFilter.SettingKey] = Silo.AccessToken,
        };
        foreach (var (key, value) in tls ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    }

    /// <summary>The CLI's connection, with <paramref name="tls"/> as its <c>Cluster:Tls</c> settings.</summary>
    public Task<OrchestratorConnection> ConnectAsync(IReadOnlyDictionary<string, string>? tls = null) =>
        OrchestratorConnection.ConnectAsync(ClientSettings(tls));

    /// <summary>A bare Orleans client with <paramref name="tls"/>, for calls to any grain (including ones the cluster must refuse).</summary>
    public async Task<IHost> StartClusterClientAsync(IReadOnlyDictionary<string, string>? tls = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddOrchestratorConfiguration().AddConfiguration(ClientSettings(tls));
        builder.AddOrchestratorClient();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        Certificates.Dispose();
        Foreign.Dispose();
        _workspace.Dispose();
    }
}
