using Orleans.Concurrency;

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
    /// <summary>The most one domain's agent run may cost, in US dollars; null takes the configured default (none by default).</summary>
    [Id(20)] public double? BudgetUsd { get; init; }
    /// <summary>The most tokens one domain's agent run may use (input, output and cache together); null takes the configured default.</summary>
    [Id(21)] public long? BudgetTokens { get; init; }
    /// <summary>Orderings between the plan's domains (CLI <c>--after frontend:backend</c>), besides the routing rules'.</summary>
    [Id(30)] public IReadOnlyList<DomainDependency> After { get; init; } = [];
    /// <summary>An http(s) URL that gets the signed result when the task is final; null takes the configured default (<c>Webhooks:DefaultUrl</c>).</summary>
    [Id(40)] public string? NotifyUrl { get; init; }
}

/// <summary><see cref="Domain"/> starts only once <see cref="After"/> has completed, and is given its result.</summary>
[GenerateSerializer, Alias("orchestrator.domain-dependency")]
public sealed record DomainDependency([property: Id(0)] string Domain, [property: Id(1)] string After)
{
    /// <summary>Parses <c>frontend:backend</c> (frontend starts after backend); throws <see cref="InvalidTaskRequestException"/> naming the text.</summary>
    public static DomainDependency Parse(string text) =>
        text.Split(':') is [var domain, var after] && domain.Trim().Length > 0 && after.Trim().Length > 0
            ? new DomainDependency(domain.Trim(), after.Trim())
            : throw new InvalidTaskRequestException($"The ordering '{text}' is not domain:dependency, e.g. frontend:backend (frontend starts after backend).");

    public override string ToString() => $"{Domain}:{After}";
}

/// <summary>One domain's part of a plan.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-plan")]
public sealed record SubtaskPlan(
    [property: Id(0)] string Domain,
    [property: Id(1)] string Description,
    [property: Id(2)] IReadOnlyList<string> Requirements,
    [property: Id(3)] IReadOnlyList<string> Workers)
{
    /// <summary>The domains of the plan this one starts after.</summary>
    [Id(30)] public IReadOnlyList<string> After { get; init; } = [];
}

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
    /// <summary>The agent run's cost budget in US dollars (null: none), carried to the worker.</summary>
    [Id(20)] public double? BudgetUsd { get; init; }
    /// <summary>The agent run's token budget (null: none), carried to the worker.</summary>
    [Id(21)] public long? BudgetTokens { get; init; }
}

/// <summary>A final result reported by a domain worker (the reference's results hash).</summary>
[GenerateSerializer, Immutable, Alias("orchestrator.agent-result")]
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
    /// <summary>The attempt's diff as JSON (the result hash's extra <c>diff</c> field, see <c>DiffRecord</c>); reference runners send none.</summary>
    [Id(50)] public string? DiffJson { get; init; }
    /// <summary>The proof of <see cref="DiffJson"/> under the attempt's lease (extra field <c>diff_proof</c>), separate from the result's so that a diff dropped for its size leaves the result valid.</summary>
    [Id(51)] public string? DiffProof { get; init; }
}

/// <summary>The state of one subtask, as shown to users and aggregated by the parent.</summary>
[GenerateSerializer, Immutable, Alias("orchestrator.subtask-view")]
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
    /// <summary>The domains of the task this one starts after.</summary>
    [Id(30)] public IReadOnlyList<string> After { get; init; } = [];
    /// <summary>Those of <see cref="After"/> it still waits for (not started yet); empty otherwise.</summary>
    [Id(31)] public IReadOnlyList<string> WaitingFor { get; init; } = [];
    /// <summary>Tokens and cost of all its attempts so far, as their workers reported them; null when none reported any.</summary>
    [Id(20)] public TokenUsage? Usage { get; init; }
}

/// <summary>The state of a task and its subtasks; <see cref="Version"/> grows with every change.</summary>
[GenerateSerializer, Immutable, Alias("orchestrator.task-view")]
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

    /// <summary>The sum of its subtasks' usage; null when none reported any.</summary>
    public TokenUsage? Usage => TokenUsage.Sum(Subtasks.Select(s => s.Usage));
}

/// <summary>
/// What agent runs used, as their workers reported it: tokens by kind and the cost in US dollars (the agent's own
/// figure when it reports one, else an estimate from the worker's price table; null when neither is known).
/// </summary>
[GenerateSerializer, Immutable, Alias("orchestrator.token-usage")]
public sealed record TokenUsage
{
    [Id(0)] public long InputTokens { get; init; }
    [Id(1)] public long OutputTokens { get; init; }
    [Id(2)] public long CacheCreationTokens { get; init; }
    [Id(3)] public long CacheReadTokens { get; init; }
    [Id(4)] public double? CostUsd { get; init; }

    public long TotalTokens => InputTokens + OutputTokens + CacheCreationTokens + CacheReadTokens;

    public TokenUsage Plus(TokenUsage other) => new()
    {
        InputTokens = InputTokens + other.InputTokens,
        OutputTokens = OutputTokens + other.OutputTokens,
        CacheCreationTokens = CacheCreationTokens + other.CacheCreationTokens,
        CacheReadTokens = CacheReadTokens + other.CacheReadTokens,
        CostUsd = CostUsd is null && other.CostUsd is null ? null : (CostUsd ?? 0) + (other.CostUsd ?? 0),
    };

    public static TokenUsage? Sum(IEnumerable<TokenUsage?> usages) =>
        usages.Aggregate((TokenUsage?)null, (sum, usage) => usage is null ? sum : sum?.Plus(usage) ?? usage);
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

/// <summary>
/// The change one domain's agent made: its attempt's commit against the task's base commit, per file, as its worker
/// computed it (the silo never reads the workspace). Untrusted text from an agent: render it escaped.
/// </summary>
[GenerateSerializer, Alias("orchestrator.domain-diff")]
public sealed record DomainDiff
{
    [Id(0)] public required string Domain { get; init; }
    /// <summary>The attempt whose work this is.</summary>
    [Id(1)] public int Attempt { get; init; }
    [Id(2)] public string? BaseCommit { get; init; }
    [Id(3)] public string? Commit { get; init; }
    /// <summary>The attempt's branch while it exists.</summary>
    [Id(4)] public string? Branch { get; init; }
    /// <summary><c>merged</c>, <c>branch</c>, <c>conflict</c> or <c>no_changes</c>, as in the subtask's output.</summary>
    [Id(5)] public string? Merge { get; init; }
    [Id(6)] public IReadOnlyList<FileDiff> Files { get; init; } = [];
    /// <summary>Some of the diff was left out (its size passed the limit); the files it lists are all there are, up to the file limit.</summary>
    [Id(7)] public bool Truncated { get; init; }
}

/// <summary>One file of a <see cref="DomainDiff"/>: git's unified diff of it, or for a binary file only that it changed.</summary>
[GenerateSerializer, Alias("orchestrator.file-diff")]
public sealed record FileDiff
{
    [Id(0)] public required string Path { get; init; }
    /// <summary><c>added</c>, <c>modified</c> or <c>deleted</c>.</summary>
    [Id(1)] public required string Status { get; init; }
    [Id(2)] public bool Binary { get; init; }
    /// <summary>The file did not merge: this version is on the attempt's branch only.</summary>
    [Id(3)] public bool Conflict { get; init; }
    /// <summary>git's unified diff of the file (headers and hunks); null for a binary file or one past the size limit.</summary>
    [Id(4)] public string? Patch { get; init; }
    /// <summary>The patch was cut at the size limit, or left out.</summary>
    [Id(5)] public bool Truncated { get; init; }
}
