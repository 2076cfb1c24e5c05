using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using Orchestrator.Hosting;
using Orchestrator.Worker;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;
using Orleans.TestingHost;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orleans.Configuration;
using Orleans.Storage;

namespace Orchestrator.Tests.Support;

/// <summary>
/// A one-silo Orleans test cluster configured as an orchestrator with the embedded defaults, short timings, a
/// temporary workspace and agent scripts of the test's choosing.
/// </summary>
public sealed class OrchestratorCluster : IAsyncDisposable
{
    private readonly InProcessTestCluster _cluster;
    private readonly List<(CancellationTokenSource Stop, Task Run)> _externalWorkers = [];

    private OrchestratorCluster(InProcessTestCluster cluster, TempDirectory dir, OrchestratorClient client)
    {
        _cluster = cluster;
        Dir = dir;
        Client = client;
    }

    public TempDirectory Dir { get; }

    public string Workspace => Dir.File("workspace");

    public OrchestratorClient Client { get; }

    public IServiceProvider Silo => _cluster.GetSiloServiceProvider();

    /// <summary>
    /// Changes a subtask's stored state behind its activation's back, as another activation or a crash would leave it;
    /// returns what the storage then holds.
    /// </summary>
    public async Task<SubtaskGrainState> ChangeStoredSubtaskAsync(string subtaskId, Action<SubtaskGrainState> change)
    {
        var storage = Silo.GetRequiredKeyedService<IGrainStorage>(StorageNames.Orchestrator);
        var grainId = GrainId.Create("subtask", subtaskId);
        var stored = new GrainState<SubtaskGrainState>();
        await storage.ReadStateAsync("subtask", grainId, stored);
        change(stored.State!);
        await storage.WriteStateAsync("subtask", grainId, stored);
        return stored.State!;
    }

    /// <summary>A subtask's state as its storage holds it.</summary>
    public Task<SubtaskGrainState> StoredSubtaskAsync(string subtaskId) => ChangeStoredSubtaskAsync(subtaskId, _ => { });

    /// <summary>The raw Orleans client: a caller outside the cluster, as a client on the gateway is.</summary>
    public IClusterClient ClusterClient => _cluster.Client;

    /// <summary>Leaves the domains running when the cluster stops, as a silo that dies does.</summary>
    public bool KeepDomainsOnDispose { get; set; }

    /// <param name="services">Changes to the silo's services after the orchestrator's own, e.g. a fault-injecting decorator.</param>
    /// <param name="siloResponseTimeout">Orleans' response timeout for calls made inside the silo (default 30 s).</param>
    /// <param name="clientResponseTimeout">Orleans' response timeout for the client's calls (default 30 s).</param>
    public static async Task<OrchestratorCluster> StartAsync(Func<TempDirectory, Dictionary<string, string?>> configure, Action<IServiceCollection>? services = null,
        TimeSpan? siloResponseTimeout = null, TimeSpan? clientResponseTimeout = null)
    {
        var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var settings = new Dictionary<string, string?>
        {
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Kind"] = "process",
            ["Domains:Agent:Command"] = "{demo}",
            ["Domains:Agent:HeartbeatInterval"] = "00:00:00.200",
            ["Domains:Agent:ShutdownGrace"] = "00:00:01",
            ["Orchestrator:SchedulerTick"] = "00:00:00.100",
            ["Orchestrator:HealthCheckInterval"] = "00:00:00.250",
            ["Orchestrator:DeadlineGrace"] = "00:00:00.200",
            // Short enough that a lost worker is noticed in seconds, long enough that a loaded machine never fakes one.
            ["Orchestrator:HeartbeatTtl"] = "00:00:03",
            ["Orchestrator:Retry:MaxAttempts"] = "1",
            ["Orchestrator:Retry:InitialBackoff"] = "00:00:00.050",
            // The test cluster's client asks the silo's test hooks for silo statuses.
            ["Cluster:ClientSystemTargets:0"] = "Orleans.Runtime.TestHooks.ITestHooks",
        };
        foreach (var (key, value) in configure(dir))
        {
            settings[key] = value;
        }

        var configuration = Routing.Configuration(settings);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddOrchestrator(configuration);
            services?.Invoke(silo.Services);
            if (siloResponseTimeout is { } timeout)
            {
                silo.Services.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = timeout);
            }
        });
        if (clientResponseTimeout is { } clientTimeout)
        {
            builder.ConfigureClient(client => client.Services.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = clientTimeout));
        }

        var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = new OrchestratorClient(cluster.Client, Routing.Planner(settings), Routing.Validator(settings));
        return new OrchestratorCluster(cluster, dir, client);
    }

    /// <summary>Waits for the task to be final, bounded so that a hang fails the test instead of the run.</summary>
    public async Task<TaskView> ResultAsync(string taskId, int seconds = 60)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            return await Client.WaitForResultAsync(taskId, bound.Token);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException($"Task {taskId} was not final after {seconds} s. {await DescribeAsync(taskId)}");
        }
    }

    /// <summary>The task's subtasks and log, for a failure message that says where it got stuck.</summary>
    public async Task<string> DescribeAsync(string taskId)
    {
        var view = await Client.GetAsync(taskId);
        var logs = await Client.GetLogsAsync(taskId);
        var subtasks = view.Subtasks.Select(s => $"{s.Domain}: {s.State} attempt {s.Attempts} agent {s.AgentId} error {s.Error}");
        return $"State {view.State}; {string.Join("; ", subtasks)}\nLog:\n{string.Join("\n", logs.Entries.Select(e => e.Line))}";
    }

    /// <summary>Follows the task until <paramref name="condition"/> holds for its view; bounded.</summary>
    public async Task<TaskView> WaitUntilAsync(string taskId, Func<TaskView, bool> condition, int seconds = 60)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await foreach (var update in Client.WatchAsync(taskId, bound.Token))
        {
            if (condition(update.Task))
            {
                return update.Task;
            }
        }

        throw new Xunit.Sdk.XunitException($"Task {taskId} finished without reaching the awaited state");
    }

    /// <summary>
    /// A worker that joins like an external agent (registry only, not started by the runtime), runs tasks with
    /// <paramref name="agent"/>, and heartbeats every <paramref name="heartbeat"/>.
    /// </summary>
    public void StartExternalWorker(string agentId, string domainType, IAgentRunner agent, TimeSpan heartbeat)
    {
        var worker = new DomainWorker(
            new WorkerOptions { AgentId = agentId, DomainType = domainType, HeartbeatInterval = heartbeat, HeartbeatTtl = TimeSpan.FromSeconds(1), ShutdownGrace = TimeSpan.FromSeconds(1) },
            Silo.GetRequiredService<IWorkerTransport>(),
            Silo.GetRequiredService<IAgentDirectory>(),
            agent,
            new SharedWorkspace(Workspace),
            TimeProvider.System,
            NullLogger<DomainWorker>.Instance);
        var stop = new CancellationTokenSource();
        _externalWorkers.Add((stop, Task.Run(() => worker.RunAsync(stop.Token))));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (stop, run) in _externalWorkers)
        {
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        if (!KeepDomainsOnDispose)
        {
            await Client.CleanupDomainsAsync(all: true);
        }

        await _cluster.DisposeAsync();
        Dir.Dispose();
    }
}

/// <summary>An agent that never finishes on its own and ignores the task's timeout; only a withdraw or stop ends it.</summary>
public sealed class HangingAgentRunner : IAgentRunner
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Started => _started.Task;

    public async Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken)
    {
        _started.TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }
}

/// <summary>
/// A frozen agent: it ignores the worker's cancellation and so holds the worker's only slot until the test ends,
/// as a wedged process would; otherwise its worker, freed by a withdrawal, would race the replacement for the retry.
/// </summary>
public sealed class WedgedAgentRunner : IAgentRunner, IDisposable
{
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _thawed = new();

    public Task Started => _started.Task;

    public async Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken)
    {
        _started.TrySetResult();
        await Task.Delay(Timeout.Infinite, _thawed.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        throw new OperationCanceledException("thawed at the end of the test");
    }

    public void Dispose()
    {
        _thawed.Cancel();
        _thawed.Dispose();
    }
}
