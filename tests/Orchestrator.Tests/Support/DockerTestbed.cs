using System.Diagnostics;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Orchestrator.Tests.Support;

/// <summary>
/// A real Docker engine, a real redis-server and a workspace the containers can write to (they run as uid 10001).
/// On dispose, every container whose workspace is this testbed's is removed, whatever the test's outcome.
/// </summary>
public sealed class DockerTestbed : IAsyncDisposable
{
    public const string Image = "orchestrator-worker:local";
    private static readonly SemaphoreSlim ImageGate = new(1, 1);

    private DockerTestbed(RedisServer redis, TempDirectory dir)
    {
        Redis = redis;
        Dir = dir;
    }

    public RedisServer Redis { get; }

    public TempDirectory Dir { get; }

    public string Workspace => Dir.File("workspace");

    public DockerClient Docker { get; } = new DockerClientBuilder().Build();

    /// <summary>A workspace and a redis-server; with <paramref name="acl"/>, Redis with those ACL users.</summary>
    public static async Task<DockerTestbed> StartAsync(RedisAcl? acl = null)
    {
        await EnsureImagesAsync("worker");
        var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dir.File("workspace"), (UnixFileMode)0b111_111_111); // the containers run as uid 10001
        }
        return new DockerTestbed(await RedisServer.StartAsync(acl), dir);
    }

    /// <summary>
    /// Cluster settings for the Docker runtime: host networking (all traffic on 127.0.0.1), a fast heartbeat, and an
    /// agent script kept in the workspace so that the container sees it at /workspace.
    /// </summary>
    public Dictionary<string, string?> Settings(string agentScript, params (string Key, string? Value)[] extra)
    {
        File.WriteAllText(Path.Combine(Workspace, "agent.sh"), "#!/usr/bin/env bash\nset -u\n" + agentScript + "\n");
        var settings = new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = Redis.ConnectionString,
            ["Domains:Runtime"] = "docker",
            ["Domains:Workspace"] = Workspace,
            ["Domains:Agent:Command"] = "bash /workspace/agent.sh",
            ["Domains:Docker:Defaults:Image"] = Image,
            ["Domains:Docker:Defaults:NetworkMode"] = "host",
            ["Domains:Docker:Defaults:Environment:HEARTBEAT_INTERVAL_SECONDS"] = "1",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>The containers of this testbed (by their workspace bind), as the engine lists them by our labels.</summary>
    public async Task<IReadOnlyList<ContainerInspectResponse>> ContainersAsync()
    {
        var listed = await Docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["distributed-agent-network.managed=true"] = true } },
        });
        var ours = new List<ContainerInspectResponse>();
        foreach (var container in listed)
        {
            var inspect = await Docker.Containers.InspectContainerAsync(container.ID);
            if (inspect.HostConfig?.Binds?.Any(b => b.StartsWith(Workspace + ":", StringComparison.Ordinal)) == true)
            {
                ours.Add(inspect);
            }
        }

        return ours;
    }

    /// <summary>Builds the named images (worker, silo, redis) with docker/build-images.sh when the engine lacks them; about 20 s each.</summary>
    public static async Task EnsureImagesAsync(params string[] targets)
    {
        await ImageGate.WaitAsync();
        try
        {
            using var docker = new DockerClientBuilder().Build();
            var missing = new List<string>();
            foreach (var target in targets)
            {
                try
                {
                    await docker.Images.InspectImageAsync($"orchestrator-{target}:local");
                }
                catch (DockerImageNotFoundException)
                {
                    missing.Add(target);
                }
            }

            if (missing.Count == 0)
            {
                return;
            }

            var script = Path.Combine(BuiltProgram.RepositoryRoot, "docker", "build-images.sh");
            using var build = Process.Start(new ProcessStartInfo("bash", [script, .. missing]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var errors = build.StandardError.ReadToEndAsync();
            await build.StandardOutput.ReadToEndAsync();
            await build.WaitForExitAsync();
            if (build.ExitCode != 0)
            {
                throw new InvalidOperationException($"Building {string.Join(", ", missing)} failed:\n{await errors}");
            }
        }
        finally
        {
            ImageGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var container in await ContainersAsync())
        {
            await Docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }

        Docker.Dispose();
        await Redis.DisposeAsync();
        Dir.Dispose();
    }
}

/// <summary>
/// A test that needs a Docker engine and redis-server. In CI (<c>CI=true</c>) it always runs and fails when either is
/// missing; elsewhere it is skipped with the reason when no engine socket is there.
/// </summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        if (!File.Exists("/var/run/docker.sock") && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")))
        {
            Skip = "SKIPPED: no Docker engine (/var/run/docker.sock or DOCKER_HOST); CI runs this test.";
        }
        else if (!RedisFactAttribute.OnPath("redis-server"))
        {
            Skip = "SKIPPED: redis-server is not installed (apt-get install redis-server); CI runs this test.";
        }
    }
}
