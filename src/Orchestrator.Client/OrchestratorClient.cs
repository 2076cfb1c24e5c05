using System.Diagnostics;
using Orchestrator.Core.Telemetry;
using System.Runtime.CompilerServices;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Validation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Polly;
using Polly.Retry;

namespace Orchestrator.Client;

/// <summary>
/// Everything a program does with the orchestrator, over Orleans client calls. The CLI is built on this and
/// nothing else. Get one from <see cref="OrchestratorConnection"/> or from DI after <c>AddOrchestratorClient</c>.
/// </summary>
public sealed class OrchestratorClient(IClusterClient cluster, TaskPlanner planner, TaskRequestValidator validator)
{
    /// <summary>How long one long-poll for a task's changes waits (at most half the response timeout).</summary>
    private TimeSpan ChangeWait => WithinResponseTimeout(TimeSpan.FromSeconds(20));

    /// <summary>How long one wait for a domain operation lasts (the pool grants 10 s at most).</summary>
    private TimeSpan OperationWait => WithinResponseTimeout(TimeSpan.FromSeconds(10));

    /// <summary>Submitting is idempotent per task id, so a call whose reply was lost is safely sent again.</summary>
    private static readonly ResiliencePipeline SubmitRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(500),
            BackoffType = DelayBackoffType.Exponential,
            ShouldHandle = new PredicateBuilder().Handle<SiloUnavailableException>().Handle<TimeoutException>().Handle<OrleansMessageRejectionException>(),
        })
        .Build();

    public IReadOnlyList<string> KnownDomains => planner.KnownDomains;

    /// <summary>A long-poll answers within half the response timeout, so that a slow answer is never taken for a lost one.</summary>
    private TimeSpan WithinResponseTimeout(TimeSpan preferred)
    {
        var timeout = cluster.ServiceProvider.GetService<IOptions<ClientMessagingOptions>>()?.Value.ResponseTimeout ?? TimeSpan.FromSeconds(30);
        return preferred < timeout / 2 ? preferred : timeout / 2;
    }

    /// <summary>The plan for a task, without running anything. Throws <see cref="InvalidTaskRequestException"/> for bad input.</summary>
    public TaskPlan Analyze(TaskSubmission submission) => planner.Plan(validator.Validate(submission));

    /// <summary>Submits a task; returns as soon as it is stored and queued.</summary>
    public async Task<TaskView> SubmitAsync(TaskSubmission submission, CancellationToken cancellationToken = default)
    {
        var taskId = Guid.NewGuid().ToString();
        using var activity = OrchestratorTelemetry.Start("orchestrator.submit", ActivityKind.Client, null, taskId);
        var valid = validator.Validate(submission) with { TraceParent = submission.TraceParent ?? activity?.Id ?? Activity.Current?.Id };
        return await SubmitRetry.ExecuteAsync(async token => await TaskGrain(taskId).Submit(valid).WaitAsync(token), cancellationToken);
    }

    public Task<TaskView> GetAsync(string taskId) => TaskGrain(taskId).GetView();

    public Task<TaskView> CancelAsync(string taskId) => TaskGrain(taskId).Cancel();

    /// <summary>The task's webhook deliveries, oldest first (empty for a task without a notify URL).</summary>
    public Task<IReadOnlyList<WebhookDelivery>> GetDeliveriesAsync(string taskId) =>
        WebhookGrain(taskId).GetDeliveries();

    /// <summary>
    /// Waits until the delivery of <paramref name="task"/>'s final state has ended (delivered or failed) and returns the
    /// deliveries; at once for a task that notifies nowhere. Waits on the webhook grain; never polls on a timer.
    /// </summary>
    public async Task<IReadOnlyList<WebhookDelivery>> WaitForDeliveryAsync(TaskView task, CancellationToken cancellationToken = default)
    {
        if (task.NotifyUrl is null || task.CompletedAt is not { } completedAt)
        {
            return [];
        }

        var grain = WebhookGrain(task.TaskId);
        while (true)
        {
            var deliveries = await grain.WaitForDelivery(completedAt, ChangeWait).WaitAsync(cancellationToken);
            if (deliveries.Any(d => d.TaskCompletedAt == completedAt && d.State != WebhookDeliveryState.Pending))
            {
                return deliveries;
            }
        }
    }

    /// <summary>Runs the failed, timed-out and cancelled parts of a finished task again.</summary>
    public Task<TaskView> RetryAsync(string taskId) => TaskGrain(taskId).Retry();

    /// <summary>The change each domain's agent made (or only <paramref name="domain"/>'s), per file; domains whose agent reported none are left out.</summary>
    public Task<IReadOnlyList<DomainDiff>> GetDiffAsync(string taskId, string? domain = null) => TaskGrain(taskId).GetDiff(domain);

    public Task<LogPage> GetLogsAsync(string taskId, LogCursor? cursor = null) => TaskGrain(taskId).GetLogs(cursor ?? LogCursor.Start);

    /// <summary>The task as it changes, with its new log lines, until it is final. Waits on the grain; never polls on a timer.</summary>
    public async IAsyncEnumerable<TaskUpdate> WatchAsync(string taskId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var grain = TaskGrain(taskId);
        var view = await grain.GetView().WaitAsync(cancellationToken);
        var cursor = LogCursor.Start;
        // By revision: views arrive deserialized, so their lists never compare equal by reference. A dependent that
        // never started keeps revision 0 while the task moves it (waiting, then failed by a dependency): by state too.
        var known = new Dictionary<string, (long Revision, SubtaskState State)>();
        while (true)
        {
            var logs = await grain.GetLogs(cursor).WaitAsync(cancellationToken);
            cursor = logs.Next;
            var changed = view.Subtasks.Where(s => !known.TryGetValue(s.TaskId, out var seen)
                || s.Revision > seen.Revision || (s.Revision == seen.Revision && s.State != seen.State)).ToArray();
            foreach (var subtask in changed)
            {
                known[subtask.TaskId] = (subtask.Revision, subtask.State);
            }

            if (changed.Length > 0 || logs.Entries.Count > 0 || view.State.IsFinal())
            {
                yield return new TaskUpdate(view, changed, logs.Entries);
            }

            if (view.State.IsFinal())
            {
                yield break;
            }

            view = await grain.WaitForChange(view.Version, ChangeWait).WaitAsync(cancellationToken);
        }
    }

    /// <summary>Waits until the task is final and returns it.</summary>
    public async Task<TaskView> WaitForResultAsync(string taskId, CancellationToken cancellationToken = default)
    {
        var grain = TaskGrain(taskId);
        TaskView view;
        do
        {
            view = await grain.WaitForResult(ChangeWait).WaitAsync(cancellationToken);
        }
        while (!view.State.IsFinal());

        return view;
    }

    /// <summary>The most recent tasks, newest first; a listed task that expired or was pruned meanwhile is left out.</summary>
    public async Task<IReadOnlyList<TaskView>> ListTasksAsync(int limit = 20)
    {
        var recent = await cluster.Reference<ITaskIndexGrain>(0).Recent(limit);
        var views = await Task.WhenAll(recent.Select(async r =>
        {
            try
            {
                return await TaskGrain(r.TaskId).GetView();
            }
            catch (UnknownTaskException)
            {
                return null;
            }
        }));
        return views.OfType<TaskView>().ToArray();
    }

    /// <summary>
    /// Removes every finished task that finished more than <paramref name="olderThan"/> ago (null: the silo's
    /// retention period) — its state, logs and results. Unfinished tasks are never touched. Returns what was removed.
    /// </summary>
    public async Task<PruneReport> PruneAsync(TimeSpan? olderThan, CancellationToken cancellationToken = default)
    {
        var index = cluster.Reference<ITaskIndexGrain>(0);
        var removed = new List<PrunedTask>();
        PruneReport report;
        do
        {
            // The silo removes a bounded number per call; every call makes progress, so this ends.
            report = await index.Prune(olderThan).WaitAsync(cancellationToken);
            removed.AddRange(report.Removed);
        }
        while (report.Remaining > 0);

        return report with { Removed = removed };
    }

    public async Task<IReadOnlyList<DomainPoolView>> ListDomainsAsync()
    {
        return await Task.WhenAll(planner.KnownDomains.Select(async type => new DomainPoolView(
            type,
            await cluster.Reference<IDomainPoolGrain>(type).List(),
            await cluster.Reference<IDomainSchedulerGrain>(type).GetView())));
    }

    /// <summary>Starts a domain instance and waits until it runs (each call to the pool returns within seconds, however long the spawn takes).</summary>
    public async Task<DomainView> SpawnDomainAsync(string domainType, CancellationToken cancellationToken = default)
    {
        var pool = Pool(domainType);
        var done = await FollowAsync(pool, await pool.StartSpawn(), cancellationToken);
        return done.State == DomainOperationState.Succeeded ? done.Spawned! : throw new DomainSpawnException(done.Error!);
    }

    /// <summary>Stops a domain instance by id (<c>{domain_type}-{8 hex}</c>) and waits until it has stopped; false if no such instance runs.</summary>
    public async Task<bool> StopDomainAsync(string domainId, CancellationToken cancellationToken = default)
    {
        var type = planner.KnownDomains.FirstOrDefault(t => domainId.StartsWith(t + "-", StringComparison.Ordinal) && domainId.Length == t.Length + 9)
            ?? throw new InvalidTaskRequestException($"'{domainId}' is not a domain id; ids look like backend-1a2b3c4d. List them with `orchestrator domains`.");
        var pool = Pool(type);
        if (await pool.StartStop(domainId) is not { } started)
        {
            return false;
        }

        var done = await FollowAsync(pool, started, cancellationToken);
        return done.State == DomainOperationState.Succeeded ? true : throw new DomainOperationException($"Stopping {domainId} failed: {done.Error}");
    }

    /// <summary>Removes stopped domains, or with <paramref name="all"/> stops and removes every one, all pools at once. Returns the removed ids.</summary>
    public async Task<IReadOnlyList<string>> CleanupDomainsAsync(bool all, CancellationToken cancellationToken = default)
    {
        var done = await Task.WhenAll(planner.KnownDomains.Select(async type =>
        {
            var pool = Pool(type);
            return await FollowAsync(pool, await pool.StartCleanup(all), cancellationToken);
        }));
        if (done.FirstOrDefault(d => d.State == DomainOperationState.Failed) is { } failed)
        {
            throw new DomainOperationException($"Cleaning up {failed.DomainType} domains failed: {failed.Error}");
        }

        return done.SelectMany(d => d.DomainIds).ToArray();
    }

    /// <summary>Waits for a pool's operation in short calls, each a third of the response timeout at most, until it has finished.</summary>
    private async Task<DomainOperation> FollowAsync(IDomainPoolGrain pool, DomainOperation operation, CancellationToken cancellationToken)
    {
        while (operation.State == DomainOperationState.Running)
        {
            cancellationToken.ThrowIfCancellationRequested();
            operation = await pool.WaitForOperation(operation.OperationId, OperationWait).WaitAsync(cancellationToken)
                ?? throw new DomainOperationException(
                    $"The orchestrator lost track of the {operation.Kind.ToString().ToLowerInvariant()} of a {operation.DomainType} domain (a silo restarted?); see where it stands with `orchestrator domains`.");
        }

        return operation;
    }

    public Task<IReadOnlyList<AgentInfo>> ListAgentsAsync() => cluster.Reference<IAgentRegistryGrain>(0).List();

    private ITaskGrain TaskGrain(string taskId) => cluster.Reference<ITaskGrain>(TaskKey(taskId));

    /// <summary>A task's webhook deliveries live in a grain of the task's own id.</summary>
    private IWebhookGrain WebhookGrain(string taskId) => cluster.Reference<IWebhookGrain>(TaskKey(taskId));

    private static string TaskKey(string taskId)
    {
        if (string.IsNullOrWhiteSpace(taskId))
        {
            throw new InvalidTaskRequestException("The task id is empty; list tasks with `orchestrator tasks`.");
        }

        // Task ids are GUIDs; anything else names no task (the silo refuses such keys from clients too).
        var id = taskId.Trim();
        return Guid.TryParseExact(id, "D", out _) ? id : throw new UnknownTaskException(id);
    }

    /// <summary>Holds a domain type's queue (nothing more is dispatched; work in flight runs on), or with <paramref name="paused"/> false lets it go.</summary>
    public Task<SchedulerView> PauseDomainAsync(string domainType, bool paused) =>
        cluster.Reference<IDomainSchedulerGrain>(KnownDomain(domainType)).SetPaused(paused);

    private IDomainPoolGrain Pool(string domainType) => cluster.Reference<IDomainPoolGrain>(KnownDomain(domainType));

    private string KnownDomain(string domainType)
    {
        var type = domainType.Trim().ToLowerInvariant();
        return planner.IsKnownDomain(type)
            ? type
            : throw new InvalidTaskRequestException($"Unknown domain '{domainType}'. Known domains: {string.Join(", ", planner.KnownDomains)}.");
    }
}

/// <summary>One step of <see cref="OrchestratorClient.WatchAsync"/>: the task now, the subtasks that changed, and new log lines.</summary>
public sealed record TaskUpdate(TaskView Task, IReadOnlyList<SubtaskView> ChangedSubtasks, IReadOnlyList<LogEntry> Logs);
