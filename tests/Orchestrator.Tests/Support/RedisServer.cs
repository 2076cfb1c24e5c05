using System.Diagnostics;
using Orchestrator.Hosting;
using Orchestrator.Redis;
using StackExchange.Redis;

namespace Orchestrator.Tests.Support;

/// <summary>A real redis-server on a free port of 127.0.0.1, in a temporary directory, stopped and removed on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process _process;
    private readonly TempDirectory _dir;

    private RedisServer(Process process, TempDirectory dir, int port, IConnectionMultiplexer connection)
    {
        _process = process;
        _dir = dir;
        Port = port;
        Connection = connection;
    }

    public int Port { get; }

    /// <summary>The ACL users the server was started with (<c>docker/make-redis-acl.sh</c>), or null for the open default user.</summary>
    public RedisAcl? Acl { get; private init; }

    /// <summary>The certificates of its TLS port, or null when it speaks plain TCP.</summary>
    public DevCertificates? Tls { get; private init; }

    /// <summary>The silo's setting: plain <c>host:port</c>, or with ACL or TLS on the orchestrator user's <c>redis[s]://</c> URL.</summary>
    public string ConnectionString => ConnectionStringFor(Port, Acl, Tls);

    /// <summary>A URL for <paramref name="user"/> (password from its file), trusting the test CA when on TLS.</summary>
    public string Url(string? user) => UrlFor(Port, Acl, Tls, user);

    private static string ConnectionStringFor(int port, RedisAcl? acl, DevCertificates? tls) =>
        acl is null && tls is null ? $"127.0.0.1:{port}" : UrlFor(port, acl, tls, acl is null ? null : "orchestrator");

    private static string UrlFor(int port, RedisAcl? acl, DevCertificates? tls, string? user)
    {
        var query = new List<string>();
        if (user is not null)
        {
            query.Add($"{RedisConnection.PasswordFileParameter}={acl!.PasswordFile(user)}");
        }

        if (tls is not null)
        {
            query.Add($"{RedisConnection.CertificateAuthorityParameter}={tls.Authority}");
        }

        var scheme = tls is null ? "redis" : "rediss";
        var login = user is null ? "" : $"{user}@";
        return $"{scheme}://{login}127.0.0.1:{port}/0{(query.Count > 0 ? "?" + string.Join('&', query) : "")}";
    }

    /// <summary>A connection for the test's own raw commands, as a foreign client would send them.</summary>
    public IConnectionMultiplexer Connection { get; }

    public IDatabase Db => Connection.GetDatabase();

    /// <summary>
    /// Starts redis-server; with <paramref name="acl"/>, users from its ACL file and the default user off (the test's
    /// own connection is then the orchestrator user's); with <paramref name="tls"/>, TLS only, on redis.pem; with
    /// <paramref name="durable"/>, every write in the append-only file before it is acknowledged, so a restart keeps it.
    /// </summary>
    public static async Task<RedisServer> StartAsync(RedisAcl? acl = null, DevCertificates? tls = null, bool durable = false)
    {
        var dir = new TempDirectory("redis");
        var port = OrchestratorSiloHost.FreePort();
        var process = Launch(dir, port, acl, tls, durable);
        var connection = await ConnectAsync(process, port, acl, tls);
        return new RedisServer(process, dir, port, connection) { Acl = acl, Tls = tls, Durable = durable };
    }

    public bool Durable { get; private init; }

    /// <summary>SIGKILL, then a new server on the same port and directory: what it had acknowledged comes back from its append-only file.</summary>
    public async Task RestartAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = Launch(_dir, Port, Acl, Tls, Durable);
        await (await ConnectAsync(_process, Port, Acl, Tls)).DisposeAsync();
    }

    /// <summary>SIGSTOP: the server holds every connection open and answers nothing, as a stalled machine does.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString()]);
        kill.WaitForExit();
    }

    private static Process Launch(TempDirectory dir, int port, RedisAcl? acl, DevCertificates? tls, bool durable)
    {
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--bind", "127.0.0.1", "--dir", dir.Path, "--save", "", "--loglevel", "warning" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Add(start, durable ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]);
        if (tls is null)
        {
            Add(start, "--port", port.ToString());
        }
        else
        {
            // Clients prove who they are with an ACL password; the certificate proves the server to them.
            Add(start, "--port", "0", "--tls-port", port.ToString(), "--tls-auth-clients", "no",
                "--tls-cert-file", Path.Combine(tls.Directory, "redis.pem"), "--tls-key-file", Path.Combine(tls.Directory, "redis.key"),
                "--tls-ca-cert-file", tls.Authority);
        }

        if (acl is not null)
        {
            Add(start, "--aclfile", acl.File);
        }

        try
        {
            return Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            dir.Dispose();
            throw new InvalidOperationException($"redis-server could not be started ({e.Message}); install it (apt-get install redis-server).", e);
        }
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(Process process, int port, RedisAcl? acl, DevCertificates? tls)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            try
            {
                var options = RedisConnection.Parse(ConnectionStringFor(port, acl, tls));
                options.AbortOnConnectFail = true;
                options.ConnectTimeout = 500;
                options.AllowAdmin = true;
                return await ConnectionMultiplexer.ConnectAsync(options);
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    private static void Add(ProcessStartInfo start, params IEnumerable<string> args)
    {
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        if (Acl is not null)
        {
            Acl.Dispose();
        }

        Tls?.Dispose();
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
