using System.Diagnostics.Metrics;
using Orchestrator.Contracts;

namespace Orchestrator.Grains;

/// <summary>
/// The orchestrator's measurements (meter <c>Orchestrator</c>), recorded where the events happen and exported by
/// whoever listens (the silo's Prometheus endpoint when enabled).
/// </summary>
public static class OrchestratorMetrics
{
    public const string MeterName = "Orchestrator";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Submitted = Meter.CreateCounter<long>("orchestrator.tasks.submitted", description: "Subtasks submitted, by domain");
    private static readonly Counter<long> Finished = Meter.CreateCounter<long>("orchestrator.tasks.finished", description: "Subtasks that reached a final state, by domain and status");
    private static readonly Counter<long> Retries = Meter.CreateCounter<long>("orchestrator.tasks.retries", description: "Attempts started again by the retry policy, by domain");
    private static readonly UpDownCounter<long> Queued = Meter.CreateUpDownCounter<long>("orchestrator.queue.depth", description: "Subtasks waiting in a scheduler, by domain and priority");
    private static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("orchestrator.task.duration", unit: "s", description: "From submit to the aggregated result, by final status");
    private static readonly Counter<long> Spawned = Meter.CreateCounter<long>("orchestrator.domains.spawned", description: "Domain instances spawned, by domain");
    private static readonly Counter<long> Replaced = Meter.CreateCounter<long>("orchestrator.domains.replaced", description: "Domain instances replaced after failing their health check, by domain");

    private static readonly Counter<long> Tokens = Meter.CreateCounter<long>("orchestrator.agent.tokens", unit: "{token}", description: "Tokens agents reported, by domain and kind (input, output, cache_creation, cache_read)");
    private static readonly Counter<double> Cost = Meter.CreateCounter<double>("orchestrator.agent.cost", unit: "USD", description: "Cost agents reported or their workers estimated, by domain");

    public static void UsageReported(string domain, TokenUsage usage)
    {
        Tokens.Add(usage.InputTokens, Tag("domain", domain), Tag("kind", "input"));
        Tokens.Add(usage.OutputTokens, Tag("domain", domain), Tag("kind", "output"));
        Tokens.Add(usage.CacheCreationTokens, Tag("domain", domain), Tag("kind", "cache_creation"));
        Tokens.Add(usage.CacheReadTokens, Tag("domain", domain), Tag("kind", "cache_read"));
        if (usage.CostUsd is { } cost)
        {
            Cost.Add(cost, Tag("domain", domain));
        }
    }

    public static void SubtaskSubmitted(string domain) => Submitted.Add(1, Tag("domain", domain));

    public static void SubtaskFinished(string domain, SubtaskState state) =>
        Finished.Add(1, Tag("domain", domain), Tag("status", state.ToWire()));

    public static void Retried(string domain) => Retries.Add(1, Tag("domain", domain));

    public static void QueueChanged(string domain, TaskPriority priority, int delta) =>
        Queued.Add(delta, Tag("domain", domain), Tag("priority", priority.ToWire()));

    public static void TaskFinished(TaskState state, TimeSpan duration) =>
        Latency.Record(duration.TotalSeconds, Tag("status", state.ToWire()));

    public static void DomainSpawned(string domain) => Spawned.Add(1, Tag("domain", domain));

    public static void DomainReplaced(string domain) => Replaced.Add(1, Tag("domain", domain));

    private static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);
}
