using System.Diagnostics;

namespace Orchestrator.Tests.Support;

/// <summary>
/// A CA and its silo, client and redis certificates, made by <c>docker/make-dev-certs.sh</c> (the documented command)
/// in a temporary directory.
/// </summary>
public sealed class DevCertificates : IDisposable
{
    private readonly TempDirectory _dir;

    private DevCertificates(TempDirectory dir) => _dir = dir;

    public string Directory => _dir.Path;

    public string Authority => _dir.File("ca.pem");

    public static async Task<DevCertificates> MakeAsync()
    {
        var dir = new TempDirectory("certs");
        var (exitCode, output) = await Script.RunAsync("make-dev-certs.sh", dir.Path);
        if (exitCode != 0)
        {
            dir.Dispose();
            throw new InvalidOperationException($"docker/make-dev-certs.sh failed: {output}");
        }

        return new DevCertificates(dir);
    }

    /// <summary>The <c>Cluster:Tls</c> settings of one of the certificates: <c>silo</c> or <c>client</c>.</summary>
    public Dictionary<string, string> ClusterTls(string name) => new()
    {
        ["Cluster:Tls:Certificate"] = _dir.File($"{name}.pem"),
        ["Cluster:Tls:Key"] = _dir.File($"{name}.key"),
        ["Cluster:Tls:CertificateAuthority"] = Authority,
    };

    public void Dispose() => _dir.Dispose();
}

/// <summary>The repository's scripts under <c>docker/</c>, run with bash.</summary>
public static class Script
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string name, params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(BuiltProgram.RepositoryRoot, "docker", name));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
