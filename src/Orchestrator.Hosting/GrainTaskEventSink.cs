using Orchestrator.Contracts;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Transport;

namespace Orchestrator.Hosting;

/// <summary>Routes what workers report to the subtask grain of each task id.</summary>
public sealed class GrainTaskEventSink(IGrainFactory grains, TaskPlanner planner) : ITaskEventSink
{
    public Task OnStartedAsync(string taskId, string agentId, DateTimeOffset startedAt, string? leaseProof, string? incarnation) =>
        grains.Reference<ISubtaskGrain>(taskId).OnStarted(agentId, startedAt, leaseProof, incarnation);

    public Task OnResultAsync(AgentResult result) =>
        grains.Reference<ISubtaskGrain>(result.TaskId).OnResult(result);

    public Task OnLogsAppendedAsync(string taskId) =>
        grains.Reference<ISubtaskGrain>(taskId).OnLogsAppended();

    public Task OnNotificationsMayBeMissedAsync() =>
        Task.WhenAll(planner.KnownDomains.Select(domain => grains.Reference<IDomainSchedulerGrain>(domain).ReconcileInFlight()));
}
