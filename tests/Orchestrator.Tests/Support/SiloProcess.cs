using Microsoft.Extensions.Configuration;
using Orchestrator.Client;
using Orchestrator.Hosting;

namespace Orchestrator.Tests.Support;

/// <summary>The real silo program (<c>silo/</c>, as <c>dotnet run --project silo</c> builds it) in its own process.</summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly ProgramProcess _process;
    private readonly TempDirectory _state;

    private SiloProcess(ProgramProcess process, TempDirectory state, int siloPort, int gatewayPort, int webPort)
    {
        _process = process;
        _state = state;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        WebPort = webPort;
    }

    public int SiloPort { get; }

    public int GatewayPort { get; }

    /// <summary>The HTTP API, task view and health endpoints: http://127.0.0.1:{WebPort}.</summary>
    public int WebPort { get; }

    public Uri WebAddress => new($"http://127.0.0.1:{WebPort}");

    /// <summary>
    /// What callers must present: the configured Web:ApiKey, or else the access token the silo keeps in its token file
    /// (by default one of its own in a temporary folder; Web:TokenFile in the settings names another).
    /// </summary>
    public string AccessToken { get; private set; } = "";

    public string TokenFile { get; private set; } = "";

    public string Output => _process.Output;

    /// <summary>A client of the HTTP API that sends the access token, as curl does with <c>-H "X-Api-Key: …"</c>.</summary>
    public HttpClient CreateHttpClient()
    {
        var http = new HttpClient { BaseAddress = WebAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("X-Api-Key", AccessToken);
        return http;
    }

    /// <summary>
    /// Starts a silo with <paramref name="settings"/> as environment variables and waits until it serves. A silo
    /// restarted on the ports of one that died replaces it in the membership at once, as a restarted service does.
    /// </summary>
    public static async Task<SiloProcess> StartAsync(IReadOnlyDictionary<string, string> settings, SiloProcess? restartOf = null)
    {
        var state = new TempDirectory("orchestrator-silo-state");
        var tokenFile = settings.GetValueOrDefault("Web:TokenFile") ?? restartOf?.TokenFile ?? state.File("token");
        var siloPort = restartOf?.SiloPort ?? OrchestratorSiloHost.FreePort();
        var gatewayPort = restartOf?.GatewayPort ?? OrchestratorSiloHost.FreePort();
        var webPort = restartOf?.WebPort ?? OrchestratorSiloHost.FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["Cluster__SiloPort"] = siloPort.ToString(),
            ["Web__Urls"] = $"http://127.0.0.1:{webPort}",
            ["Cluster__GatewayPort"] = gatewayPort.ToString(),
            ["Logging__LogLevel__Default"] = "Information",
            ["Web__TokenFile"] = tokenFile,
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__")] = value;
        }

        var silo = new SiloProcess(ProgramProcess.Start(BuiltProgram.Path("silo", "orchestrator-silo.dll"), [], environment), state, siloPort, gatewayPort, webPort)
        {
            TokenFile = tokenFile,
        };
        await Eventually.TrueAsync(() => silo.Output.Contains("Orchestrator started") || silo._process.HasExited,
            "the silo did not start", seconds: 60);
        if (silo._process.HasExited)
        {
            await silo._process.WaitForExitAsync(); // the output readers are drained only then
            var output = silo.Output;
            await silo.DisposeAsync();
            throw new Xunit.Sdk.XunitException($"The silo exited at start:\n{output}");
        }

        // The web server starts after the silo: serving means both. It may still stop then (a listening rule broken).
        using var http = new HttpClient { BaseAddress = silo.WebAddress, Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return silo._process.HasExited || (await http.GetAsync("/health/live")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, "the silo's web server did not answer", seconds: 30);
        if (silo._process.HasExited)
        {
            await silo._process.WaitForExitAsync(); // the output readers are drained only then
            var output = silo.Output;
            await silo.DisposeAsync();
            throw new Xunit.Sdk.XunitException($"The silo stopped after start:\n{output}");
        }

        silo.AccessToken = settings.GetValueOrDefault("Web:ApiKey") ?? AccessTokenFile.TryRead(tokenFile)
            ?? throw new Xunit.Sdk.XunitException($"The silo serves but left no access token in {tokenFile}:\n{silo.Output}");
        return silo;
    }

    /// <summary>SIGKILL to the silo and the agent processes it started, as when its machine or container dies.</summary>
    public Task KillAsync() => _process.KillAsync(entireTree: true);

    public bool HasExited => _process.HasExited;

    /// <summary>SIGSTOP: frozen, its ports open; held long enough, the other silos declare it dead.</summary>
    public Task PauseAsync() => _process.PauseAsync();

    public Task ResumeAsync() => _process.ResumeAsync();

    /// <summary>SIGTERM: the silo leaves the cluster and stops its domains gracefully.</summary>
    public Task StopAsync() => _process.TerminateAsync();

    /// <summary>The environment of an `orchestrator` command that talks to this silo's gateway with its access token.</summary>
    public Dictionary<string, string> CliEnvironment => new()
    {
        ["Cluster__Gateway"] = $"127.0.0.1:{GatewayPort}",
        ["Cluster__AccessToken"] = AccessToken,
    };

    /// <summary>A client that finds the cluster's gateways through Redis and presents this silo's access token.</summary>
    public Task<OrchestratorConnection> ConnectAsync(string redis) =>
        OrchestratorConnection.ConnectAsync(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Redis:ConnectionString"] = redis, [AccessTokenCallFilter.SettingKey] = AccessToken })
            .Build());

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        _state.Dispose();
    }
}

/// <summary>A program of this repository as the solution build left it (same configuration as the tests).</summary>
public static class BuiltProgram
{
    /// <summary>The folder holding Orchestrator.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Orchestrator.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException($"No Orchestrator.sln above {AppContext.BaseDirectory}.");
        }
    }

    public static string Path(string projectDirectory, string assembly)
    {
        var separator = System.IO.Path.DirectorySeparatorChar;
        var configuration = AppContext.BaseDirectory.Contains($"{separator}Release{separator}") ? "Release" : "Debug";
        var program = System.IO.Path.Combine(RepositoryRoot, projectDirectory, "bin", configuration, "net10.0", assembly);
        return File.Exists(program) ? program : throw new InvalidOperationException($"{program} is missing; build the solution first.");
    }
}
