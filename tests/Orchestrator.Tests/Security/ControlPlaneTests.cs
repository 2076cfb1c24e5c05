using Microsoft.Extensions.Configuration;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Security;

/// <summary>What a client outside the cluster may call: the public surface, with well-formed keys, and nothing else.</summary>
public sealed class ControlPlaneTests
{
    [Fact]
    public async Task A_client_cannot_report_a_result_for_a_running_subtask()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("slow.sh", "sleep 30") });
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var subtask = task.Subtasks.Single();

        var refused = await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<ISubtaskGrain>(subtask.TaskId)
            .OnResult(new AgentResult { TaskId = subtask.TaskId, Succeeded = true, OutputJson = """{"files_created":["forged.txt"]}""" }));

        Assert.Contains("ISubtaskGrain.OnResult is internal", refused.Message);
        Assert.False((await cluster.Client.GetAsync(task.TaskId)).State.IsFinal());
    }

    [Fact]
    public async Task A_client_cannot_change_a_schedulers_capacity()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<IDomainSchedulerGrain>("backend").SetCapacity(1000));
    }

    [Fact]
    public async Task A_client_cannot_report_the_outcome_of_a_pool_operation()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());
        var forged = new DomainOperation
        {
            OperationId = "forged",
            DomainType = "backend",
            Kind = DomainOperationKind.Spawn,
            State = DomainOperationState.Failed,
            Error = "forged: no domain",
        };

        var refused = await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<IDomainPoolGrain>("backend").OnOperationFinished(forged));

        Assert.Contains("IDomainPoolGrain.OnOperationFinished is internal", refused.Message);
    }

    [Fact]
    public async Task A_client_cannot_call_the_task_grains_internal_callbacks()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());
        var task = cluster.ClusterClient.GetGrain<ITaskGrain>(Guid.NewGuid().ToString());

        await Assert.ThrowsAsync<CallRefusedException>(() => task.OnSubtaskChanged(new SubtaskView { TaskId = "x", Domain = "backend" }));
    }

    [Fact]
    public async Task A_client_cannot_spawn_a_domain_that_routing_does_not_know()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        var refused = await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<IDomainPoolGrain>("../../etc").StartSpawn());

        Assert.Contains("not a known domain type", refused.Message);
    }

    [Fact]
    public async Task A_client_cannot_address_a_task_by_a_key_that_is_no_task_id()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<ITaskGrain>("../../x").GetView());
    }

    [Fact]
    public async Task A_client_cannot_call_orleans_management()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        await Assert.ThrowsAsync<CallRefusedException>(() => cluster.ClusterClient.GetGrain<IManagementGrain>(0).GetHosts());
    }

    [Fact]
    public async Task A_client_still_reaches_the_public_surface()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var result = await cluster.ResultAsync(task.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.NotEmpty(await cluster.Client.ListDomainsAsync());
        Assert.NotEmpty(await cluster.Client.ListTasksAsync(10));
    }
}

/// <summary>The gateway of a real silo process with default settings: clients must present the silo's access token.</summary>
public sealed class GatewayAccessTests
{
    private static Task<Orchestrator.Client.OrchestratorConnection> ConnectAsync(SiloProcess silo, string token) =>
        Orchestrator.Client.OrchestratorConnection.ConnectAsync(new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cluster:Gateway"] = $"127.0.0.1:{silo.GatewayPort}",
                [Orchestrator.Client.AccessTokenCallFilter.SettingKey] = token,
            })
            .Build());

    [Fact]
    public async Task A_gateway_client_without_the_access_token_cannot_submit_a_task()
    {
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>());
        await using var connection = await ConnectAsync(silo, "not-the-token");

        var refused = await Assert.ThrowsAsync<CallRefusedException>(() =>
            connection.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] }));

        Assert.Contains("requires its access token", refused.Message);
        Assert.Empty(await (await ConnectAsync(silo, silo.AccessToken)).Client.ListTasksAsync(10));
    }

    [Fact]
    public async Task A_gateway_client_with_the_access_token_submits_and_follows_a_task()
    {
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>());
        await using var connection = await ConnectAsync(silo, silo.AccessToken);

        var task = await connection.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var result = await connection.Client.WaitForResultAsync(task.TaskId, bound.Token);

        Assert.Equal(TaskState.Completed, result.State);
    }
}
