using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Transport;
using Orchestrator.Grains;
using Orchestrator.Worker;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Hosting.Runtime;

/// <summary>
/// The embedded default: each domain instance is a <see cref="DomainWorker"/> loop running inside the silo's
/// process, with the same registration, heartbeats and queues a container would use. The silo's process is made
/// non-dumpable, so that the agents it starts cannot read its environment or memory.
/// </summary>
public sealed class EmbeddedDomainRuntime : IDomainRuntime, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Instance> _instances = new(StringComparer.Ordinal);
    private readonly IWorkerTransport transport;
    private readonly IAgentDirectory directory;
    private readonly IOptions<DomainsOptions> options;
    private readonly IOptions<OrchestratorOptions> orchestrator;
    private readonly TimeProvider time;
    private readonly ILoggerFactory loggers;

    public EmbeddedDomainRuntime(
        IWorkerTransport transport,
        IAgentDirectory directory,
        IOptions<DomainsOptions> options,
        IOptions<OrchestratorOptions> orchestrator,
        TimeProvider time,
        ILoggerFactory loggers)
    {
        this.transport = transport;
        this.directory = directory;
        this.options = options;
        this.orchestrator = orchestrator;
        this.time = time;
        this.loggers = loggers;
        ProcessHardening.MakeNonDumpable();
    }

    public Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default)
    {
        var agent = options.Value.AgentFor(domainType);
        var id = DomainIds.New(domainType);
        var worker = new DomainWorker(
            new WorkerOptions
            {
                AgentId = id,
                DomainType = domainType,
                Concurrency = Math.Max(1, agent.Concurrency),
                ShutdownGrace = agent.ShutdownGrace,
                HeartbeatInterval = agent.HeartbeatInterval,
                HeartbeatTtl = orchestrator.Value.HeartbeatTtl,
                MaxLogBytes = agent.MaxLogBytes,
            },
            transport,
            directory,
            CreateRunner(agent, options.Value.PassedEnvironmentFor(domainType)),
            CreateIsolation(domainType, agent),
            time,
            loggers.CreateLogger<DomainWorker>());
        var stop = new CancellationTokenSource();
        var instance = new Instance(id, domainType, time.GetUtcNow(), Math.Max(1, agent.Concurrency), stop);
        _instances[id] = instance;
        instance.Run = Task.Run(() => worker.RunAsync(stop.Token), CancellationToken.None);
        return Task.FromResult(instance.Describe());
    }

    public async Task StopAsync(string domainId, CancellationToken cancellationToken = default)
    {
        if (_instances.TryGetValue(domainId, out var instance))
        {
            await instance.StopAsync().ConfigureAwait(false);
        }
    }

    public Task RemoveAsync(string domainId, CancellationToken cancellationToken = default)
    {
        if (_instances.TryGetValue(domainId, out var instance) && instance.Run!.IsCompleted)
        {
            _instances.TryRemove(domainId, out _);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<DomainInstance>> ListAsync(string? domainType = null, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<DomainInstance>>(_instances.Values
            .Where(i => domainType is null || i.DomainType == domainType)
            .Select(i => i.Describe())
            .OrderBy(i => i.CreatedAt)
            .ToArray());

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_instances.Values.Select(i => i.StopAsync())).ConfigureAwait(false);
    }

    private IAgentRunner CreateRunner(AgentOptions agent, IReadOnlyList<string> passEnvironment) => agent.Kind.ToLowerInvariant() switch
    {
        "noop" => new NoOpAgentRunner(),
        "process" => new ProcessAgentRunner(new AgentCommandOptions
        {
            Command = agent.Command,
            PassEnvironment = [.. passEnvironment],
            MaxLineBytes = agent.MaxLineBytes,
            StallTimeout = agent.StallTimeout,
            Usage = agent.ParsedUsageFormat(),
            Prices = agent.CheckedPrices(),
        }),
        _ => throw new InvalidOperationException($"Domains:Agent:Kind '{agent.Kind}' is not known; use 'process' or 'noop'."),
    };

    /// <summary>Process agents run in worktrees; the no-op agent touches nothing and runs in the workspace itself.</summary>
    private IWorkspaceIsolation CreateIsolation(string domainType, AgentOptions agent) => agent.Kind.Equals("noop", StringComparison.OrdinalIgnoreCase)
        ? new SharedWorkspace(options.Value.WorkspacePath)
        : new WorktreeIsolation(
            new IsolationOptions
            {
                Workspace = options.Value.WorkspacePath,
                DomainType = domainType,
                Mode = agent.Merge,
                KeepMergedBranches = agent.KeepMergedBranches,
                TemplateDirectory = Path.Combine(options.Value.Templates, domainType),
                IgnorePatterns = agent.IgnorePatterns,
            },
            loggers.CreateLogger<WorktreeIsolation>());

    private sealed class Instance(string id, string domainType, DateTimeOffset createdAt, int concurrency, CancellationTokenSource stop)
    {
        public string DomainType => domainType;
        public DateTimeOffset CreatedAt => createdAt;
        public Task? Run { get; set; }

        public DomainInstance Describe() => Run switch
        {
            { IsFaulted: true } => new(id, domainType, DomainInstanceState.Exited, createdAt, concurrency, Run.Exception!.GetBaseException().Message),
            { IsCompleted: true } => new(id, domainType, DomainInstanceState.Exited, createdAt, concurrency, "stopped"),
            _ => new(id, domainType, DomainInstanceState.Running, createdAt, concurrency, "in-process worker loop"),
        };

        public async Task StopAsync()
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Run!.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Its failure is shown by Describe(); stopping is done either way.
            }
        }
    }
}
