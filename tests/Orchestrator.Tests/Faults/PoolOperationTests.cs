using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>
/// Runtime work that outlasts Orleans' response timeout (lowered here to 2 s for the calls the test is about; a Docker
/// spawn or stop can take 30 s and more) runs off the pool grain's turn: every call returns at once and callers follow
/// the operation.
/// </summary>
public sealed class PoolOperationTests
{
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Work_waiting_for_a_spawn_slower_than_the_response_timeout_runs_once_the_domain_is_up()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => [],
            services => RuntimeDecorator.Install(services, inner => new SlowSpawn(inner, ResponseTimeout * 2)), siloResponseTimeout: ResponseTimeout);

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
    }

    [Fact]
    public async Task Spawning_through_the_client_outlasts_the_response_timeout_and_returns_the_new_domain()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => [],
            services => RuntimeDecorator.Install(services, inner => new SlowSpawn(inner, ResponseTimeout * 2)), clientResponseTimeout: ResponseTimeout);

        var spawned = await cluster.Client.SpawnDomainAsync("devops");

        Assert.Equal([spawned.DomainId], (await cluster.Client.ListDomainsAsync()).Single(p => p.DomainType == "devops").Domains.Select(d => d.DomainId));
    }

    [Fact]
    public async Task A_spawn_that_hangs_past_its_deadline_fails_the_waiting_task_saying_so()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Orchestrator:DomainOperationTimeout"] = "00:00:02" },
            services => RuntimeDecorator.Install(services, inner => new HangingSpawn(inner)));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await cluster.ResultAsync(submitted.TaskId, seconds: 20);

        Assert.Equal(TaskState.Failed, result.State);
        Assert.Equal("The spawn of a backend domain did not finish within 2 s (Orchestrator:DomainOperationTimeout).", result.Subtasks.Single().Error);
    }

    [Fact]
    public async Task A_runtime_that_stops_answering_lists_fails_a_domain_listing_at_the_list_timeout_saying_so_and_the_pool_serves_again()
    {
        HangingList? runtime = null;
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Orchestrator:RuntimeListTimeout"] = "00:00:01" },
            services => RuntimeDecorator.Install(services, inner => runtime = new HangingList(inner)), clientResponseTimeout: TimeSpan.FromSeconds(10));
        await cluster.Client.ListDomainsAsync();

        runtime!.Hang = true;
        var error = await Assert.ThrowsAsync<DomainOperationException>(() => cluster.Client.ListDomainsAsync());
        runtime.Hang = false;

        Assert.Contains("did not list the", error.Message);
        Assert.Contains("Orchestrator:RuntimeListTimeout", error.Message);
        Assert.NotEmpty(await cluster.Client.ListDomainsAsync());
    }

    [Fact]
    public async Task Cleanup_all_stops_every_domain_at_once()
    {
        var stops = new StopBarrier(count: 3);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => [],
            services => RuntimeDecorator.Install(services, inner => new BarrierStop(inner, stops)), clientResponseTimeout: ResponseTimeout);
        var spawned = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            spawned.Add((await cluster.Client.SpawnDomainAsync("frontend")).DomainId);
        }

        var removed = await cluster.Client.CleanupDomainsAsync(all: true);

        Assert.Equal(spawned.Order(), removed.Order());
        Assert.Empty((await cluster.Client.ListDomainsAsync()).SelectMany(p => p.Domains));
    }

    [Fact]
    public async Task A_spawn_past_the_instance_cap_is_refused_saying_how_many_run_and_what_to_do()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Orchestrator:MaxInstancesPerDomain"] = "2" });
        await cluster.Client.SpawnDomainAsync("frontend");
        await cluster.Client.SpawnDomainAsync("frontend");

        var refused = await Assert.ThrowsAsync<TaskConflictException>(() => cluster.Client.SpawnDomainAsync("frontend"));

        Assert.Equal("The frontend domain has 2 instance(s) running and 0 starting, the most Orchestrator:MaxInstancesPerDomain (2) allows. "
            + "Stop one first (`orchestrator domains stop <id>`), or raise the setting.", refused.Message);
        Assert.Equal(2, (await cluster.Client.ListDomainsAsync()).Single(p => p.DomainType == "frontend").Domains.Count);
    }

    [Fact]
    public async Task A_stopped_instance_leaves_room_under_the_instance_cap()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Orchestrator:MaxInstancesPerDomain"] = "1" });
        var first = await cluster.Client.SpawnDomainAsync("frontend");

        await cluster.Client.StopDomainAsync(first.DomainId);
        var second = await cluster.Client.SpawnDomainAsync("frontend");

        Assert.NotEqual(first.DomainId, second.DomainId);
    }

    /// <summary>A list the engine stops answering while <see cref="Hang"/> is set; only the caller's deadline ends it.</summary>
    private sealed class HangingList(IDomainRuntime inner) : RuntimeDecorator(inner)
    {
        public volatile bool Hang;

        public override async Task<IReadOnlyList<DomainInstance>> ListAsync(string? domainType = null, CancellationToken cancellationToken = default)
        {
            if (Hang)
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }

            return await base.ListAsync(domainType, cancellationToken);
        }
    }

    /// <summary>A spawn that takes <paramref name="delay"/> before the real runtime starts the instance, as a slow engine does.</summary>
    private sealed class SlowSpawn(IDomainRuntime inner, TimeSpan delay) : RuntimeDecorator(inner)
    {
        public override async Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default)
        {
            await Task.Delay(delay, cancellationToken);
            return await base.SpawnAsync(domainType, cancellationToken);
        }
    }

    /// <summary>A spawn the engine never answers; only the caller's deadline ends it.</summary>
    private sealed class HangingSpawn(IDomainRuntime inner) : RuntimeDecorator(inner)
    {
        public override async Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }

    /// <summary>Each stop waits until <see cref="StopBarrier.Count"/> stops have begun: stops made one after another never get through.</summary>
    private sealed class BarrierStop(IDomainRuntime inner, StopBarrier barrier) : RuntimeDecorator(inner)
    {
        public override async Task StopAsync(string domainId, CancellationToken cancellationToken = default)
        {
            await barrier.ArriveAsync();
            await base.StopAsync(domainId, cancellationToken);
        }
    }

    private sealed class StopBarrier(int count)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrived;

        public int Count => count;

        public Task ArriveAsync()
        {
            if (Interlocked.Increment(ref _arrived) >= count)
            {
                _all.TrySetResult();
            }

            return _all.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
