using System.Collections.Concurrent;
using System.Diagnostics;
using Orchestrator.Contracts;
using Orchestrator.Core.Telemetry;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Lifecycle;

/// <summary>One trace per task: submit, task, dispatch, the worker's run and the result share a trace id.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task A_task_is_one_trace_from_submit_through_dispatch_and_the_worker_run_to_its_result()
    {
        var stopped = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OrchestratorTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", "echo done") });

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Create user registration with form and API" });
        var result = await cluster.ResultAsync(submitted.TaskId);
        var subtaskIds = result.Subtasks.Select(s => s.TaskId).ToHashSet();
        Activity[] Ours() => stopped.Where(a => a.GetTagItem("orchestrator.task_id") is string id && (id == submitted.TaskId || subtaskIds.Contains(id))).ToArray();
        // The worker's run and the result handling end just after they report, so the result can arrive first.
        await Eventually.TrueAsync(() => Ours().Length >= 8, "the task's activities did not all stop");
        var ours = Ours();

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(submitted.TaskId));
        var submit = Assert.Single(ours, a => a.OperationName == "orchestrator.submit");
        Assert.All(ours, a => Assert.Equal(submit.TraceId, a.TraceId));
        Assert.Equal(2, ours.Count(a => a.OperationName == "orchestrator.dispatch"));
        Assert.Equal(2, ours.Count(a => a.OperationName == "orchestrator.run"));
        Assert.Equal(2, ours.Count(a => a.OperationName == "orchestrator.result"));
        Assert.Single(ours, a => a.OperationName == "orchestrator.task");
    }
}
