using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Protocol;

/// <summary>
/// The reference's task message (<c>type: task_assignment</c>). Our extra fields — <c>payload.workers</c>,
/// <c>metadata.attempt</c>, <c>metadata.parent_task_id</c>, <c>metadata.traceparent</c>, <c>metadata.base_commit</c>, <c>metadata.budget_usd</c>, <c>metadata.budget_tokens</c> — are
/// ignored by the reference's runners.
/// </summary>
public sealed record TaskMessage
{
    public const string AssignmentType = "task_assignment";

    public required string TaskId { get; init; }
    public string Type { get; init; } = AssignmentType;
    public string Source { get; init; } = "main-orchestrator";
    public required string Destination { get; init; }
    public DateTimeOffset Timestamp { get; init; }
    public required string Description { get; init; }
    public IReadOnlyList<string> Requirements { get; init; } = [];
    /// <summary>The context object as JSON text ("{}" when none).</summary>
    public string ContextJson { get; init; } = "{}";
    public IReadOnlyList<string> Workers { get; init; } = [];
    public TaskPriority Priority { get; init; } = TaskPriority.Normal;
    public int TimeoutSeconds { get; init; } = 300;
    public int Attempt { get; init; } = 1;
    public string? ParentTaskId { get; init; }
    /// <summary>W3C traceparent of the dispatch (our extra <c>metadata.traceparent</c>).</summary>
    public string? TraceParent { get; init; }
    /// <summary>
    /// The attempt's lease (our extra <c>metadata.lease</c>): our worker echoes it in the result and the start notice,
    /// and the orchestrator accepts them only with the lease of the attempt in flight.
    /// </summary>
    public string? Lease { get; init; }
    /// <summary>The workspace's commit when the task was accepted, which every attempt starts from (our extra <c>metadata.base_commit</c>).</summary>
    public string? BaseCommit { get; init; }
    /// <summary>The run's cost budget in US dollars (our extra <c>metadata.budget_usd</c>); null for none.</summary>
    public double? BudgetUsd { get; init; }
    /// <summary>The run's token budget (our extra <c>metadata.budget_tokens</c>); null for none.</summary>
    public long? BudgetTokens { get; init; }

    public static TaskMessage From(SubtaskSpec spec, int attempt, DateTimeOffset now, string? lease, string? traceParent = null) => new()
    {
        Lease = lease,
        TraceParent = traceParent ?? spec.TraceParent,
        TaskId = spec.TaskId,
        Source = spec.Source,
        Destination = spec.Domain,
        Timestamp = now,
        Description = spec.Description,
        Requirements = spec.Requirements,
        ContextJson = spec.ContextJson ?? "{}",
        Workers = spec.Workers,
        Priority = spec.Priority,
        TimeoutSeconds = spec.TimeoutSeconds,
        Attempt = attempt,
        ParentTaskId = spec.ParentTaskId,
        BaseCommit = spec.BaseCommit,
        BudgetUsd = spec.BudgetUsd,
        BudgetTokens = spec.BudgetTokens,
    };

    public string ToJson()
    {
        var message = new JsonObject
        {
            ["task_id"] = TaskId,
            ["type"] = Type,
            ["source"] = Source,
            ["destination"] = Destination,
            ["timestamp"] = WireFormat.Timestamp(Timestamp),
            ["payload"] = new JsonObject
            {
                ["description"] = Description,
                ["requirements"] = new JsonArray(Requirements.Select(r => (JsonNode?)r).ToArray()),
                ["context"] = JsonNode.Parse(ContextJson),
                ["workers"] = new JsonArray(Workers.Select(w => (JsonNode?)w).ToArray()),
            },
            ["metadata"] = new JsonObject
            {
                ["priority"] = Priority.ToWire(),
                ["timeout_seconds"] = TimeoutSeconds,
                ["attempt"] = Attempt,
                ["parent_task_id"] = ParentTaskId,
            },
        };
        if (TraceParent is not null)
        {
            message["metadata"]!["traceparent"] = TraceParent;
        }

        if (Lease is not null)
        {
            message["metadata"]!["lease"] = Lease;
        }

        if (BaseCommit is not null)
        {
            message["metadata"]!["base_commit"] = BaseCommit;
        }

        if (BudgetUsd is not null)
        {
            message["metadata"]!["budget_usd"] = BudgetUsd;
        }

        if (BudgetTokens is not null)
        {
            message["metadata"]!["budget_tokens"] = BudgetTokens;
        }

        return message.ToJsonString();
    }

    /// <summary>
    /// Parses a message as any reference producer writes it; throws <see cref="WireFormatException"/> naming the bad
    /// field, and nothing else whatever the text (a message comes from anyone who can write to Redis).
    /// </summary>
    public static TaskMessage Parse(string json)
    {
        try
        {
            return ParseObject(JsonNode.Parse(json) as JsonObject ?? throw new WireFormatException("the message is not a JSON object"));
        }
        catch (JsonException e)
        {
            throw new WireFormatException($"the message is not valid JSON: {e.Message}");
        }
        catch (ArgumentException e)
        {
            // A JSON object's fields are read when first used: a field named twice throws then.
            throw new WireFormatException($"the message cannot be read (a field named twice?): {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new WireFormatException($"the message cannot be read (a string that is not valid text?): {e.Message}");
        }
    }

    private static TaskMessage ParseObject(JsonObject root)
    {
        var payload = root["payload"] as JsonObject ?? throw new WireFormatException("'payload' is missing or not an object");
        var metadata = root["metadata"] as JsonObject ?? [];
        var context = payload["context"];
        if (context is not null and not JsonObject)
        {
            throw new WireFormatException("'payload.context' is not an object");
        }

        var priorityText = OptionalString(metadata, "priority", "metadata.priority");
        if (priorityText is not null && !StateNames.TryParsePriority(priorityText, out _))
        {
            throw new WireFormatException($"'metadata.priority' is '{priorityText}', not low, normal or high");
        }

        StateNames.TryParsePriority(priorityText ?? "normal", out var priority);
        var timeout = OptionalInt(metadata, "timeout_seconds") ?? 300;
        if (timeout <= 0)
        {
            throw new WireFormatException($"'metadata.timeout_seconds' is {timeout}; it must be positive");
        }

        return new TaskMessage
        {
            TaskId = RequiredString(root, "task_id", "task_id"),
            Type = OptionalString(root, "type", "type") ?? AssignmentType,
            Source = OptionalString(root, "source", "source") ?? "unknown",
            Destination = OptionalString(root, "destination", "destination") ?? "",
            Timestamp = WireFormat.ParseTimestamp(OptionalString(root, "timestamp", "timestamp")) ?? DateTimeOffset.UtcNow,
            Description = RequiredString(payload, "description", "payload.description"),
            Requirements = StringList(payload, "requirements", "payload.requirements"),
            ContextJson = context?.ToJsonString() ?? "{}",
            Workers = StringList(payload, "workers", "payload.workers"),
            Priority = priority,
            TimeoutSeconds = timeout,
            Attempt = OptionalInt(metadata, "attempt") ?? 1,
            ParentTaskId = OptionalString(metadata, "parent_task_id", "metadata.parent_task_id"),
            TraceParent = OptionalString(metadata, "traceparent", "metadata.traceparent"),
            Lease = OptionalString(metadata, "lease", "metadata.lease"),
            BaseCommit = OptionalString(metadata, "base_commit", "metadata.base_commit"),
            BudgetUsd = OptionalPositive(metadata, "budget_usd") is { } usd ? usd : null,
            BudgetTokens = OptionalPositive(metadata, "budget_tokens") is { } tokens ? (long)Math.Min(tokens, 9e18) : null,
        };
    }

    /// <summary>A budget: absent, or a finite positive number.</summary>
    private static double? OptionalPositive(JsonObject obj, string name) => obj[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d) && d > 0 => d,
        _ => throw new WireFormatException($"'metadata.{name}' is not a positive number"),
    };

    private static string RequiredString(JsonObject obj, string name, string path) =>
        OptionalString(obj, name, path) ?? throw new WireFormatException($"'{path}' is missing");

    private static string? OptionalString(JsonObject obj, string name, string path) => obj[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new WireFormatException($"'{path}' is not a string"),
    };

    private static int? OptionalInt(JsonObject obj, string name) => obj[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var i) => i,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is > int.MinValue and < int.MaxValue => (int)d,
        _ => throw new WireFormatException($"'metadata.{name}' is not a whole number"),
    };

    private static IReadOnlyList<string> StringList(JsonObject obj, string name, string path) => obj[name] switch
    {
        null => [],
        JsonArray array => array.Select((item, i) => item is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new WireFormatException($"'{path}[{i}]' is not a string")).ToArray(),
        _ => throw new WireFormatException($"'{path}' is not a list"),
    };
}
