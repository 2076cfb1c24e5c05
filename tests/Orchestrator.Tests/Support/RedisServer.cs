using System.Diagnostics;
using Orchestrator.Hosting;
using StackExchange.Redis;

namespace Orchestrator.Tests.Support;

/// <summary>A real redis-server on a free port of 127.0.0.1, in a temporary directory, stopped and removed on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TempDirectory _dir;

    private RedisServer(Process process, TempDirectory dir, int port, IConnectionMultiplexer connection)
    {
        _process = process;
        _dir = dir;
        Port = port;
        Connection = connection;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>A connection for the test's own raw commands, as a foreign client would send them.</summary>
    public IConnectionMultiplexer Connection { get; }

    public IDatabase Db => Connection.GetDatabase();

    public static async Task<RedisServer> StartAsync()
    {
        var dir = new TempDirectory("redis");
        var port = OrchestratorSiloHost.FreePort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir.Path, "--save", "", "--appendonly", "no", "--loglevel", "warning" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            dir.Dispose();
            throw new InvalidOperationException($"redis-server could not be started ({e.Message}); install it (apt-get install redis-server).", e);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            try
            {
                var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},abortConnect=true,connectTimeout=500,allowAdmin=true");
                return new RedisServer(process, dir, port, connection);
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _dir.Dispose();
    }
}

/// <summary>
/// A test that needs redis-server. In CI (<c>CI=true</c>) it always runs, and fails if the server is missing; on a
/// machine without redis-server it is skipped with the reason.
/// </summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (!string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) && !OnPath("redis-server"))
        {
            Skip = "SKIPPED: redis-server is not installed (apt-get install redis-server); CI runs this test.";
        }
    }

    internal static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, program)));
}
