using System.Diagnostics;

namespace Orchestrator.Core.Telemetry;

/// <summary>
/// One trace per task, from the client's submit through the grains and the Redis message to the worker's run. The
/// W3C trace context travels with the task: in the submission, in each subtask's spec, and in the wire message as
/// <c>metadata.traceparent</c> (an extra field the reference's runners ignore).
/// </summary>
public static class OrchestratorTelemetry
{
    public const string SourceName = "Orchestrator";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts an activity whose parent is <paramref name="traceParent"/> (a W3C traceparent) when given, else the current one.</summary>
    public static Activity? Start(string name, ActivityKind kind, string? traceParent, string taskId)
    {
        var activity = traceParent is not null && ActivityContext.TryParse(traceParent, null, out var parent)
            ? Source.StartActivity(name, kind, parent)
            : Source.StartActivity(name, kind);
        activity?.SetTag("orchestrator.task_id", taskId);
        return activity;
    }
}
