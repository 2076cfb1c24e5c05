using System.Runtime.Versioning;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Docker;
using Orchestrator.Tests.Support;
using TaskState = Orchestrator.Contracts.TaskState;

namespace Orchestrator.Tests.Docker;

/// <summary>A worker that cannot start must not count as a spawned domain: real Docker engine, real worker image.</summary>
public sealed class CrashLoopTests
{
    private const string WritesDomainFile = """
        mkdir -p out && cat > "out/$DOMAIN_TYPE.txt"
        """;

    /// <summary>A setting the worker refuses at start (exit 2, one line naming it): its container exits at every start.</summary>
    private static readonly (string, string?) WorkerRefusesToStart = ("Domains:Docker:Defaults:Environment:MAX_LINE_BYTES", "not-a-number");

    private const string RefusalLine = "MAX_LINE_BYTES 'not-a-number' is not a positive whole number";

    [DockerFact, UnsupportedOSPlatform("windows")]
    public async Task A_workspace_the_container_user_cannot_write_fails_the_spawn_naming_the_path_and_the_fix()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile));
        File.SetUnixFileMode(testbed.Workspace, (UnixFileMode)0b111_101_101); // 0755: the owner's alone, and the worker runs as uid 10001

        var spawn = await Assert.ThrowsAsync<DomainSpawnException>(() => cluster.Client.SpawnDomainAsync("backend"));

        Assert.Contains($"The workspace {testbed.Workspace} is not writable for the container's user 10001 (the image's user)", spawn.Message);
        Assert.Contains($"chown -R 10001 {testbed.Workspace}", spawn.Message);
        Assert.Contains("Domains:Docker:Defaults:User", spawn.Message);
        Assert.Empty(await testbed.ContainersAsync());
    }

    [DockerFact]
    public async Task A_container_that_keeps_exiting_is_listed_unhealthy_with_its_exit_code_and_last_log_lines()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        using var runtime = new DockerDomainRuntime(
            new DockerRuntimeOptions
            {
                Defaults = new DomainContainerOptions
                {
                    Image = DockerTestbed.Image,
                    NetworkMode = "host",
                    Environment = new() { ["MAX_LINE_BYTES"] = "not-a-number" },
                },
            },
            testbed.Workspace,
            $"redis://{testbed.Redis.ConnectionString}/0",
            _ => new DomainWorkerSettings("demo", 1, TimeSpan.FromSeconds(1)),
            TimeProvider.System,
            NullLogger<DockerDomainRuntime>.Instance);

        var spawned = await runtime.SpawnAsync("backend");
        DomainInstance? listed = null;
        await Eventually.TrueAsync(async () => (listed = (await runtime.ListAsync("backend")).Single()).State == DomainInstanceState.Unhealthy,
            "the crash-looping container was never listed unhealthy", seconds: 60);

        Assert.Equal(spawned.DomainId, listed!.DomainId);
        Assert.Contains($"container domain-{spawned.DomainId} keeps exiting: restarted ", listed.Detail);
        Assert.Contains("last exit code 2", listed.Detail);
        Assert.Contains(RefusalLine, listed.Detail);
    }

    [DockerFact]
    public async Task A_crash_looping_domain_is_replaced_a_bounded_number_of_times_and_then_fails_the_waiting_task_with_its_last_log_lines()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        var spawns = new SpawnCounter();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile, WorkerRefusesToStart),
            services => RuntimeDecorator.Install(services, inner => new CountingSpawns(inner, spawns)));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 600 });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 120);

        Assert.Equal(TaskState.Failed, result.State);
        Assert.Contains("No backend domain stays up: 3 instances in a row failed", result.Subtasks.Single().Error);
        Assert.Contains(RefusalLine, result.Subtasks.Single().Error);
        Assert.Equal(3, spawns.Count); // the first and its two successors (Orchestrator:MaxFailedReplacements)
        Assert.Empty(await testbed.ContainersAsync());
    }

    private sealed class SpawnCounter
    {
        private int _count;

        public int Count => _count;

        public void Add() => Interlocked.Increment(ref _count);
    }

    private sealed class CountingSpawns(IDomainRuntime inner, SpawnCounter counter) : RuntimeDecorator(inner)
    {
        public override async Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default)
        {
            var spawned = await base.SpawnAsync(domainType, cancellationToken);
            counter.Add();
            return spawned;
        }
    }
}
