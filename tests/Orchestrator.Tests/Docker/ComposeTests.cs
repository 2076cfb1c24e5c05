using System.Diagnostics;
using Orchestrator.Tests.Support;
using Xunit.Abstractions;

namespace Orchestrator.Tests.Docker;

/// <summary>docker-compose.yml as the README uses it, driven by tests/compose/run.sh against the real engine.</summary>
public sealed class ComposeTests(ITestOutputHelper output)
{
    [ComposeFact]
    public async Task The_compose_cluster_completes_tasks_over_http_and_keeps_a_task_in_flight_when_one_silo_stops()
    {
        await DockerTestbed.EnsureImagesAsync("worker", "silo", "redis");
        using var run = Process.Start(new ProcessStartInfo("bash", [Path.Combine(BuiltProgram.RepositoryRoot, "tests", "compose", "run.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ORCHESTRATOR_CLI"] = BuiltProgram.Path("client", "orchestrator.dll") },
        })!;
        var stdout = run.StandardOutput.ReadToEndAsync();
        var stderr = run.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await run.WaitForExitAsync(bound.Token);
        output.WriteLine(await stdout);

        Assert.True(run.ExitCode == 0, $"{await stdout}\n{await stderr}");
        Assert.Contains("[compose] no Redis password in ps or docker inspect", await stdout);
        Assert.Contains("[compose] each domain container logs in to Redis as its own domain's user, over TLS", await stdout);
        Assert.Contains("[compose] the CLI reads the task over mutual TLS and is refused without a certificate", await stdout);
        Assert.Contains("[compose] the in-flight task completed after silo1 stopped", await stdout);
        Assert.Contains("[compose] compose flow passed", await stdout);
    }
}

/// <summary>Needs a Docker engine and docker-compose: always run in CI; elsewhere skipped with the reason when missing.</summary>
public sealed class ComposeFactAttribute : FactAttribute
{
    public ComposeFactAttribute()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        if (!File.Exists("/var/run/docker.sock") || !RedisFactAttribute.OnPath("docker-compose"))
        {
            Skip = "SKIPPED: needs a Docker engine and docker-compose (apt-get install docker.io docker-compose); CI runs this test.";
        }
    }
}
