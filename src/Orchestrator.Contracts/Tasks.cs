namespace Orchestrator.Contracts;

/// <summary>What a user submits.</summary>
[GenerateSerializer, Alias("orchestrator.task-submission")]
public sealed record TaskSubmission
{
    [Id(0)] public required string Description { get; init; }
    [Id(1)] public IReadOnlyList<string> Requirements { get; init; } = [];
    /// <summary>A JSON object as text, or null for none.</summary>
    [Id(2)] public string? ContextJson { get; init; }
    [Id(3)] public TaskPriority Priority { get; init; } = TaskPriority.Normal;
    /// <summary>Per-subtask timeout; null takes the configured default.</summary>
    [Id(4)] public int? TimeoutSeconds { get; init; }
    /// <summary>Domains named by the caller; empty lets routing decide.</summary>
    [Id(5)] public IReadOnlyList<string> Domains { get; init; } = [];
    /// <summary>Agent id of the sender, written into the wire message's <c>source</c>.</summary>
    [Id(6)] public string Source { get; init; } = "main-orchestrator";
    /// <summary>The caller's trace context (W3C traceparent), so that the task's trace continues the caller's.</summary>
    [Id(7)] public string? TraceParent { get; init; }
    /// <summary>An http(s) URL that gets the signed result when the task is final; null takes the configured default (<c>Webhooks:DefaultUrl</c>).</summary>
    [Id(40)] public string? NotifyUrl { get; init; }
}

/// <summary>One domain's part of a plan.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-plan")]
public sealed record SubtaskPlan(
    [property: Id(0)] string Domain,
    [property: Id(1)] string Description,
    [property: Id(2)] IReadOnlyList<string> Requirements,
    [property: Id(3)] IReadOnlyList<string> Workers);

/// <summary>The result of analysing a task: which domains, and what each gets.</summary>
[GenerateSerializer, Alias("orchestrator.task-plan")]
public sealed record TaskPlan(
    [property: Id(0)] IReadOnlyList<string> Domains,
    [property: Id(1)] IReadOnlyList<SubtaskPlan> Subtasks);

/// <summary>Everything a domain needs to run its part; the wire message is rendered from it.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-spec")]
public sealed record SubtaskSpec
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public required string ParentTaskId { get; init; }
    [Id(2)] public required string Domain { get; init; }
    [Id(3)] public required string Description { get; init; }
    [Id(4)] public IReadOnlyList<string> Requirements { get; init; } = [];
    [Id(5)] public string? ContextJson { get; init; }
    [Id(6)] public IReadOnlyList<string> Workers { get; init; } = [];
    [Id(7)] public TaskPriority Priority { get; init; } = TaskPriority.Normal;
    [Id(8)] public int TimeoutSeconds { get; init; } = 300;
    [Id(9)] public string Source { get; init; } = "main-orchestrator";
    [Id(10)] public DateTimeOffset CreatedAt { get; init; }
    /// <summary>The task's trace context (W3C traceparent), carried to the worker.</summary>
    [Id(11)] public string? TraceParent { get; init; }
    /// <summary>The workspace's HEAD when the task was accepted (null when the silo sees no git workspace).</summary>
    [Id(12)] public string? BaseCommit { get; init; }
}

/// <summary>A final result reported by a domain worker (the reference's results hash).</summary>
[GenerateSerializer, Alias("orchestrator.agent-result")]
public sealed record AgentResult
{
    [Id(0)] public required string TaskId { get; init; }
    /// <summary>True for <c>completed</c>, false for <c>failed</c>.</summary>
    [Id(1)] public required bool Succeeded { get; init; }
    /// <summary>The <c>output</c> JSON object as text, or null.</summary>
    [Id(2)] public string? OutputJson { get; init; }
    [Id(3)] public string? Error { get; init; }
    [Id(4)] public DateTimeOffset? StartedAt { get; init; }
    [Id(5)] public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>Which agent produced it, when the worker says so.</summary>
    [Id(6)] public string? AgentId { get; init; }
    /// <summary>Our worker's proof that it holds the attempt (the result hash's extra <c>lease_proof</c> field); reference runners send none.</summary>
    [Id(7)] public string? LeaseProof { get; init; }
}

/// <summary>The state of one subtask, as shown to users and aggregated by the parent.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-view")]
public sealed record SubtaskView
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public required string Domain { get; init; }
    [Id(2)] public SubtaskState State { get; init; }
    [Id(3)] public string? Error { get; init; }
    [Id(4)] public string? OutputJson { get; init; }
    [Id(5)] public int Attempts { get; init; }
    [Id(6)] public string? AgentId { get; init; }
    [Id(7)] public IReadOnlyList<string> Requirements { get; init; } = [];
    [Id(8)] public IReadOnlyList<string> Workers { get; init; } = [];
    [Id(9)] public DateTimeOffset? StartedAt { get; init; }
    [Id(10)] public DateTimeOffset? CompletedAt { get; init; }
    /// <summary>Grows with every change of the subtask, so that a late, older report never overwrites a newer one.</summary>
    [Id(11)] public long Revision { get; init; }
}

/// <summary>The state of a task and its subtasks; <see cref="Version"/> grows with every change.</summary>
[GenerateSerializer, Alias("orchestrator.task-view")]
public sealed record TaskView
{
    [Id(0)] public required string TaskId { get; init; }
    [Id(1)] public required string Description { get; init; }
    [Id(2)] public TaskState State { get; init; }
    [Id(3)] public TaskPriority Priority { get; init; }
    [Id(4)] public DateTimeOffset CreatedAt { get; init; }
    [Id(5)] public DateTimeOffset? CompletedAt { get; init; }
    [Id(6)] public IReadOnlyList<SubtaskView> Subtasks { get; init; } = [];
    [Id(7)] public long Version { get; init; }
    [Id(8)] public bool CancelRequested { get; init; }
    /// <summary>Where the task's result is posted when final, without credentials or query; null when nowhere.</summary>
    [Id(40)] public string? NotifyUrl { get; init; }
}

/// <summary>A short line about a task for listings.</summary>
[GenerateSerializer, Alias("orchestrator.task-summary")]
public sealed record TaskSummary(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Description,
    [property: Id(2)] DateTimeOffset CreatedAt);

/// <summary>A log line of a task or of one of its subtasks.</summary>
[GenerateSerializer, Alias("orchestrator.log-entry")]
public sealed record LogEntry(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Source,
    [property: Id(2)] string Line);

/// <summary>Log lines after a cursor; pass <see cref="Next"/> back to read on.</summary>
[GenerateSerializer, Alias("orchestrator.log-page")]
public sealed record LogPage(
    [property: Id(0)] IReadOnlyList<LogEntry> Entries,
    [property: Id(1)] LogCursor Next);

/// <summary>How many lines of each task id's log have been read.</summary>
[GenerateSerializer, Alias("orchestrator.log-cursor")]
public sealed record LogCursor([property: Id(0)] IReadOnlyDictionary<string, long> Offsets)
{
    public static LogCursor Start { get; } = new(new Dictionary<string, long>());
    public long OffsetOf(string taskId) => Offsets.TryGetValue(taskId, out var offset) ? offset : 0;
}
