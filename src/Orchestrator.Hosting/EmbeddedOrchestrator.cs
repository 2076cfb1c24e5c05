using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using System.Security.Cryptography;
using Orchestrator.Client;

namespace Orchestrator.Hosting;

/// <summary>
/// A silo started inside this process with the embedded defaults, on free ports of 127.0.0.1: the orchestrator of
/// <c>orchestrator run</c> and of the benchmark. Disposing it stops every domain and the silo.
/// </summary>
public sealed class EmbeddedOrchestrator : IAsyncDisposable
{
    private readonly IHost _host;

    private EmbeddedOrchestrator(IHost host)
    {
        _host = host;
        Client = host.Services.GetRequiredService<OrchestratorClient>();
    }

    public OrchestratorClient Client { get; }

    public IServiceProvider Services => _host.Services;

    /// <param name="settings">Configuration on top of appsettings.json and the environment, e.g. <c>Domains:Workspace</c>.</param>
    public static async Task<EmbeddedOrchestrator> StartAsync(
        IReadOnlyDictionary<string, string?>? settings = null,
        LogLevel minimumLogLevel = LogLevel.Warning,
        CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        // Logs go to stderr so that stdout carries only the command's result (`--json` must stay parseable).
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(minimumLogLevel)
            .AddFilter("Orleans", minimumLogLevel < LogLevel.Warning ? LogLevel.Warning : minimumLogLevel)
            .AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error)
            // This silo lives for one command and stops while its grains' timers may still tick; a tick caught out by the
            // stop is not the user's concern here (seen once in CI before a bad-input error line). A standing silo logs them.
            .AddFilter("Orleans.Runtime.GrainTimer", LogLevel.Error)
            // Orleans retries some of its own work with Polly, which logs every handled attempt as a warning under its own
            // name (seen in CI, under load, before a bad-input error line); a retry that fails for good is Orleans' error.
            .AddFilter("Polly", LogLevel.Error);
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddOrchestratorSilo(OrchestratorSiloHost.FreePort(), OrchestratorSiloHost.FreePort());
        // The command that embeds it owns the process's signals: Ctrl+C ends the command, which then stops this silo.
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        // This process is the only client; a token nobody else knows closes the gateway to every other process.
        builder.Services.AddSingleton(new AccessToken(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), Generated: false));
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new EmbeddedOrchestrator(host);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.CleanupDomainsAsync(all: true);
        // Grains write their last state while storage still serves them; at shutdown the in-memory storage grains may
        // be gone first, and Orleans would log a screen of placement retries for each late write.
        await _host.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await _host.StopAsync();
        _host.Dispose();
    }
}
