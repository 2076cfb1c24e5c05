using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Time.Testing;
using TaskState = Orchestrator.Contracts.TaskState;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Docker;
using Orchestrator.Tests.Support;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Tests.Docker;

/// <summary>Domains as containers on a real Docker engine, with real workers talking to a real redis-server.</summary>
public sealed class DockerRuntimeTests
{
    private const string WritesDomainFile = """
        mkdir -p out && cat > "out/$DOMAIN_TYPE.txt"
        """;

    /// <summary>Waits for the agent's go-ahead (a file in the workspace), then writes its domain file.</summary>
    private const string WaitsForRelease = """
        for i in $(seq 1 600); do [ -f release ] && break; sleep 0.1; done
        mkdir -p out && cat > "out/$DOMAIN_TYPE.txt"
        """;

    [DockerFact]
    public async Task A_spawned_domain_container_follows_the_reference_conventions_and_is_hardened()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile));

        var domain = await cluster.Client.SpawnDomainAsync("backend");
        var container = (await testbed.ContainersAsync()).Single();

        Assert.Matches("^backend-[0-9a-f]{8}$", domain.DomainId);
        Assert.Equal($"/domain-{domain.DomainId}", container.Name);
        Assert.Equal(domain.DomainId, container.Config!.Hostname);
        Assert.Equal(new Dictionary<string, string>
        {
            ["distributed-agent-network.domain"] = "backend",
            ["distributed-agent-network.domain-id"] = domain.DomainId,
            ["distributed-agent-network.managed"] = "true",
        }, container.Config!.Labels);
        Assert.Contains("AGENT_ROLE=domain", container.Config!.Env!);
        Assert.Contains($"AGENT_ID={domain.DomainId}", container.Config!.Env!);
        Assert.Contains("DOMAIN_TYPE=backend", container.Config!.Env!);
        Assert.Contains($"REDIS_URL=redis://{testbed.Redis.ConnectionString}/0", container.Config!.Env!);
        Assert.Contains($"{testbed.Workspace}:/workspace", container.HostConfig!.Binds!);
        Assert.Contains(container.HostConfig!.Binds!, b => b.EndsWith("domain-templates/backend:/agent-config:ro", StringComparison.Ordinal));
        Assert.Equal(1L << 30, container.HostConfig!.Memory);
        Assert.Equal(500_000_000, container.HostConfig!.NanoCPUs);
        Assert.Equal(RestartPolicyKind.UnlessStopped, container.HostConfig!.RestartPolicy!.Name);
        Assert.Contains("no-new-privileges", container.HostConfig!.SecurityOpt!);
        Assert.Equal(["ALL"], container.HostConfig!.CapDrop);
        Assert.Equal(512, container.HostConfig!.PidsLimit);
        Assert.DoesNotContain(container.Mounts!, m => m.Source!.Contains("docker.sock", StringComparison.Ordinal));
        Assert.Equal("10001:10001", (await testbed.Docker.Images.InspectImageAsync(DockerTestbed.Image)).Config!.User);
        await Eventually.TrueAsync(async () => (await cluster.Client.ListDomainsAsync()).Single(p => p.DomainType == "backend").Domains.Single().Healthy,
            "the container never became healthy (running, health check passing, heartbeat fresh)", seconds: 60);
    }

    [DockerFact]
    public async Task With_redis_users_each_domain_container_logs_in_as_its_own_domain_user_and_serves_the_task()
    {
        await using var testbed = await DockerTestbed.StartAsync(await RedisAcl.MakeAsync());
        var acl = testbed.Redis.Acl!;
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile,
            ("Domains:Docker:RedisUsers", acl.Directory)));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 90);
        var environment = (await testbed.ContainersAsync()).Single().Config!.Env!;

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Contains($"REDIS_URL=redis://worker-backend:{acl.Password("worker-backend")}@127.0.0.1:{testbed.Redis.Port}/0", environment);
        Assert.DoesNotContain(environment, e => e.Contains(acl.Password("orchestrator")) || e.Contains("orchestrator.password"));
    }

    [DockerFact]
    public async Task Per_domain_settings_override_the_defaults_and_named_variables_are_passed_through()
    {
        Environment.SetEnvironmentVariable("ORCHESTRATOR_TEST_MODEL_KEY", "sk-test-value");
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile,
            ("Domains:Docker:Types:frontend:MemoryBytes", "536870912"),
            ("Domains:Docker:Types:frontend:Cpus", "0.25"),
            ("Domains:Docker:Types:frontend:Environment:FRONTEND_ONLY", "yes"),
            ("Domains:Docker:Defaults:PassEnvironment:0", "ORCHESTRATOR_TEST_MODEL_KEY"),
            ("Domains:Docker:Defaults:Mounts:0", $"{testbed.Dir.Path}:/extra:ro")));

        await cluster.Client.SpawnDomainAsync("frontend");
        await cluster.Client.SpawnDomainAsync("backend");
        var containers = (await testbed.ContainersAsync()).ToDictionary(c => c.Config!.Labels!["distributed-agent-network.domain"]);

        Assert.Equal(512L << 20, containers["frontend"].HostConfig!.Memory);
        Assert.Equal(250_000_000, containers["frontend"].HostConfig!.NanoCPUs);
        Assert.Contains("FRONTEND_ONLY=yes", containers["frontend"].Config!.Env!);
        Assert.Equal(1L << 30, containers["backend"].HostConfig!.Memory);
        Assert.DoesNotContain("FRONTEND_ONLY=yes", containers["backend"].Config!.Env!);
        Assert.All(containers.Values, c => Assert.Contains("ORCHESTRATOR_TEST_MODEL_KEY=sk-test-value", c.Config!.Env!));
        Assert.All(containers.Values, c => Assert.Contains($"{testbed.Dir.Path}:/extra:ro", c.HostConfig!.Binds!));
    }

    [DockerFact]
    public async Task A_domain_containers_worker_runs_with_the_silos_agent_settings()
    {
        Environment.SetEnvironmentVariable("ORCHESTRATOR_TEST_AGENT_KEY", "agent-key-value");
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(
            """mkdir -p out && printf '%s' "${ORCHESTRATOR_TEST_AGENT_KEY:-missing}" > "out/$DOMAIN_TYPE.txt" """,
            ("Domains:Agent:Merge", "branch"),
            ("Domains:Agent:KeepMergedBranches", "1.12:00:00"),
            ("Domains:Agent:MaxLineBytes", "1000"),
            ("Domains:Agent:MaxLogBytes", "50000"),
            ("Domains:Agent:PassEnvironment:0", "ORCHESTRATOR_TEST_AGENT_KEY"),
            ("Domains:Agent:PassEnvironment:1", "AGENT_CONFIG"),
            ("Domains:Agent:IgnorePatterns:0", "*.log"),
            ("Domains:Agent:IgnorePatterns:1", "dist")));

        TaskView result;
        IList<string> environment;
        Environment.SetEnvironmentVariable("AGENT_CONFIG", "/silo-value"); // a name the runtime sets itself, listed above
        try
        {
            result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId, seconds: 120);
            environment = (await testbed.ContainersAsync()).Single().Config!.Env!;
        }
        finally
        {
            Environment.SetEnvironmentVariable("AGENT_CONFIG", null); // the later tests' processes must not inherit it
        }

        var branch = $"orchestrator/{result.TaskId[..8]}/backend-1";

        Assert.Equal(TaskState.Completed, result.State);
        Assert.False(File.Exists(Path.Combine(testbed.Workspace, "out/backend.txt"))); // left on its branch, not merged
        Assert.Equal("agent-key-value", await new Git(testbed.Workspace, [$"--git-dir={Path.Combine(testbed.Workspace, ".orchestrator/repo")}"]).CheckAsync(["show", $"{branch}:out/backend.txt"]));
        Assert.Contains("MERGE_MODE=branch", environment);
        Assert.Contains("KEEP_MERGED_BRANCHES_DAYS=2", environment); // whole days, rounded up
        Assert.Contains("MAX_LINE_BYTES=1000", environment);
        Assert.Contains("MAX_LOG_BYTES=50000", environment);
        Assert.Contains("AGENT_PASS_ENVIRONMENT=ORCHESTRATOR_TEST_AGENT_KEY,AGENT_CONFIG", environment); // in place of the default, not added to it
        Assert.Equal(["AGENT_CONFIG=/agent-config"], environment.Where(e => e.StartsWith("AGENT_CONFIG=", StringComparison.Ordinal))); // the runtime's own, not the silo's
        Assert.Contains("IGNORE_PATTERNS=*.log,dist", environment);
    }

    [DockerFact]
    public async Task A_two_domain_task_runs_in_containers_that_write_into_the_host_workspace_and_cleanup_all_leaves_none()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission
        {
            Description = "Create user registration with form and API",
            Requirements = ["POST /api/users/register", "Build registration form component"],
        });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 120);
        var containers = await testbed.ContainersAsync();
        await cluster.Client.CleanupDomainsAsync(all: true);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(["backend", "frontend"], containers.Select(c => c.Config!.Labels!["distributed-agent-network.domain"]).Order());
        Assert.Contains("POST /api/users/register", File.ReadAllText(Path.Combine(testbed.Workspace, "out/backend.txt")));
        Assert.Contains("out/frontend.txt", ResultAggregator.FilesOf(result.Subtasks.Single(s => s.Domain == "frontend"), "files_created"));
        Assert.Empty(await testbed.ContainersAsync());
    }

    [DockerFact]
    public async Task A_domain_container_killed_during_a_task_is_replaced_and_the_task_completes_through_the_new_one()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WaitsForRelease, ("Orchestrator:Retry:MaxAttempts", "2")));
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var running = await cluster.WaitUntilAsync(submitted.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress, seconds: 60);
        var killed = running.Subtasks.Single().AgentId!;

        await testbed.Docker.Containers.KillContainerAsync($"domain-{killed}", new ContainerKillParameters());
        File.WriteAllText(Path.Combine(testbed.Workspace, "release"), "");
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 120);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.NotEqual(killed, result.Subtasks.Single().AgentId);
        Assert.Equal(2, result.Subtasks.Single().Attempts);
        Assert.DoesNotContain(await testbed.ContainersAsync(), c => c.Config!.Labels!["distributed-agent-network.domain-id"] == killed);
    }

    [DockerFact]
    public async Task Stop_and_cleanup_remove_stopped_containers_and_cleanup_all_removes_the_rest()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile));
        var first = await cluster.Client.SpawnDomainAsync("devops");
        var second = await cluster.Client.SpawnDomainAsync("devops");

        Assert.True(await cluster.Client.StopDomainAsync(first.DomainId));
        var afterStop = (await cluster.Client.ListDomainsAsync()).Single(p => p.DomainType == "devops").Domains;
        var removed = await cluster.Client.CleanupDomainsAsync(all: false);
        var afterCleanup = await testbed.ContainersAsync();
        var removedAll = await cluster.Client.CleanupDomainsAsync(all: true);

        Assert.Equal(DomainStatus.Stopped, afterStop.Single(d => d.DomainId == first.DomainId).Status);
        Assert.Equal([first.DomainId], removed);
        Assert.Equal([second.DomainId], afterCleanup.Select(c => c.Config!.Labels!["distributed-agent-network.domain-id"]));
        Assert.Equal([second.DomainId], removedAll);
        Assert.Empty(await testbed.ContainersAsync());
    }

    [DockerFact]
    public async Task A_restarted_silo_adopts_the_running_containers_instead_of_spawning_duplicates()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        var settings = testbed.Settings(WritesDomainFile);
        string adopted;
        await using (var before = await OrchestratorCluster.StartAsync(_ => settings))
        {
            adopted = (await before.Client.SpawnDomainAsync("backend")).DomainId;
            before.KeepDomainsOnDispose = true;
        }

        await using var after = await OrchestratorCluster.StartAsync(_ => settings);
        var listed = (await after.Client.ListDomainsAsync()).Single(p => p.DomainType == "backend").Domains;
        var result = await after.ResultAsync((await after.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId, seconds: 120);

        Assert.Equal([adopted], listed.Select(d => d.DomainId));
        Assert.True(listed.Single().Managed);
        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(adopted, result.Subtasks.Single().AgentId);
        Assert.Single(await testbed.ContainersAsync());
    }

    [DockerFact]
    public async Task A_missing_image_fails_the_spawn_and_the_waiting_task_with_the_image_name_and_how_to_build_it()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => testbed.Settings(WritesDomainFile, ("Domains:Docker:Defaults:Image", "orchestrator-worker:does-not-exist")));

        var spawn = await Assert.ThrowsAsync<DomainSpawnException>(() => cluster.Client.SpawnDomainAsync("backend"));
        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId);

        Assert.Contains("'orchestrator-worker:does-not-exist' is not on the Docker engine", spawn.Message);
        Assert.Contains("docker/build-images.sh worker", spawn.Message);
        Assert.Equal(TaskState.Failed, result.State);
        Assert.Contains("orchestrator-worker:does-not-exist", result.Subtasks.Single().Error);
    }

    [DockerFact]
    public async Task A_workspace_probe_left_behind_by_a_silo_that_stopped_mid_check_is_removed_by_a_spawn_once_ten_minutes_old()
    {
        await using var testbed = await DockerTestbed.StartAsync();
        var leftover = await testbed.Docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = DockerTestbed.Image,
            Labels = new Dictionary<string, string> { [DockerDomainRuntime.WorkspaceProbeLabel] = "true" },
        });
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var runtime = new DockerDomainRuntime(
            new DockerRuntimeOptions { Defaults = new DomainContainerOptions { Image = DockerTestbed.Image, NetworkMode = "host" } },
            testbed.Workspace,
            $"redis://{testbed.Redis.ConnectionString}/0",
            _ => new DomainWorkerSettings("true", 1, TimeSpan.FromSeconds(1)),
            clock,
            NullLogger<DockerDomainRuntime>.Instance);

        try
        {
            await runtime.SpawnAsync("backend");
            var keptWhileYoung = await testbed.Docker.Containers.InspectContainerAsync(leftover.ID);
            clock.Advance(TimeSpan.FromMinutes(11));
            await runtime.SpawnAsync("backend");

            Assert.Equal(leftover.ID, keptWhileYoung.ID);
            await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => testbed.Docker.Containers.InspectContainerAsync(leftover.ID));
        }
        finally
        {
            await testbed.Docker.Containers.RemoveContainerAsync(leftover.ID, new ContainerRemoveParameters { Force = true }).ContinueWith(_ => { });
        }
    }

    [Fact]
    public async Task An_unreachable_docker_engine_is_reported_with_the_socket_it_tried()
    {
        using var runtime = new DockerDomainRuntime(
            new DockerRuntimeOptions { Endpoint = "unix:///tmp/no-docker-here.sock" },
            "/tmp",
            "redis://127.0.0.1:6379/0",
            _ => new DomainWorkerSettings("demo", 1, TimeSpan.FromSeconds(1)),
            TimeProvider.System,
            NullLogger<DockerDomainRuntime>.Instance);

        var error = await Assert.ThrowsAsync<DomainRuntimeUnavailableException>(() => runtime.SpawnAsync("backend"));

        Assert.Contains("The Docker engine at unix:///tmp/no-docker-here.sock is not reachable", error.Message);
        Assert.Contains("Start dockerd", error.Message);
    }
}
