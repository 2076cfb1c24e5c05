using Orchestrator.Core.Transport;

namespace Orchestrator.Grains;

/// <summary>Task lifecycle settings, bound from the <c>Orchestrator</c> configuration section.</summary>
public sealed class OrchestratorOptions
{
    public const string SectionName = "Orchestrator";

    /// <summary>The agent id this orchestrator registers as (role main).</summary>
    public string MainAgentId { get; set; } = "main-orchestrator";

    /// <summary>Per-subtask timeout when the task names none.</summary>
    public int DefaultTimeoutSeconds { get; set; } = 300;

    /// <summary>The orchestrator's deadline is the timeout plus this grace, so that a worker's own kill reports first.</summary>
    public TimeSpan DeadlineGrace { get; set; } = TimeSpan.FromSeconds(5);

    public RetryPolicyOptions Retry { get; set; } = new();

    /// <summary>How often schedulers look for passed deadlines and due retries.</summary>
    public TimeSpan SchedulerTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often domain pools check their instances' health (the reminder only brings them back after a restart).</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A new instance is not judged by its heartbeat until this long after it was spawned.</summary>
    public TimeSpan StartupGrace { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The deadline of a pool's runtime work (a spawn with its one retry, a stop, a cleanup, a replacement), which runs
    /// off the pool's turn: past it the work counts as failed and what waits for it is told so.
    /// </summary>
    public TimeSpan DomainOperationTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a pool waits for the domain runtime to list its instances (on Docker a list and an inspect per
    /// container). The pool answers nothing else meanwhile, so a hung engine holds it no longer than this; below the
    /// response timeout (30 s), so that a caller hears why.
    /// </summary>
    public TimeSpan RuntimeListTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Replacements in a row, while no instance of the domain is healthy, after which the pool stops replacing (a
    /// crash-looping worker) and fails the waiting work with the last instance's reason and log lines.
    /// </summary>
    public int MaxFailedReplacements { get; set; } = 2;

    /// <summary>
    /// The most instances of one domain a client may have running or starting: each spawn asked for past it is refused,
    /// so that whoever holds the access token cannot start containers until the host gives out. Stopped instances do not
    /// count; the pool's own spawns (the first instance for waiting work, a replacement of a dead one) are not refused by it.
    /// </summary>
    public int MaxInstancesPerDomain { get; set; } = 8;

    /// <summary>An agent is healthy while its last heartbeat is younger than this (the reference's key TTL).</summary>
    public TimeSpan HeartbeatTtl { get; set; } = Heartbeats.Ttl;

    /// <summary>How many recent tasks <c>orchestrator tasks</c> can list.</summary>
    public int TaskIndexSize { get; set; } = 1000;

    /// <summary>
    /// Domains that the reference's runners may serve. Their runners cannot echo an attempt's lease, so on these domains
    /// a result without a lease is accepted: results there are not authenticated (see README, Security model). On every
    /// other domain a result or start notice counts only with the lease of the attempt in flight.
    /// </summary>
    public List<string> ReferenceCompatibleDomains { get; set; } = [];

    /// <summary>The longest error text a subtask keeps from a worker; longer ones are cut with a marker.</summary>
    public int MaxErrorChars { get; set; } = 4096;

    public RetentionOptions Retention { get; set; } = new();

    public BudgetOptions Budget { get; set; } = new();
}

/// <summary>The cost budget of a task that names none (<c>Orchestrator:Budget</c>); each applies to every domain's agent run.</summary>
public sealed class BudgetOptions
{
    /// <summary>US dollars; null for no cost budget.</summary>
    public double? Usd { get; set; }

    /// <summary>Tokens (input, output and cache together); null for no token budget.</summary>
    public long? Tokens { get; set; }

    /// <summary>Null when valid, else the start error naming the setting.</summary>
    public string? Validate() =>
        Usd is { } usd && !(double.IsFinite(usd) && usd > 0) ? $"Orchestrator:Budget:Usd is {usd}: give a positive amount of US dollars (e.g. 2.5), or leave it out for no cost budget."
        : Tokens is <= 0 ? $"Orchestrator:Budget:Tokens is {Tokens}: give a positive number of tokens, or leave it out for no token budget."
        : null;
}

/// <summary>How long a finished task stays (<c>Orchestrator:Retention</c>).</summary>
public sealed class RetentionOptions
{
    public const string FinishedTasksSetting = "Orchestrator:Retention:FinishedTasks";

    /// <summary>
    /// A finished task — its grain state, its subtasks', its logs and results — is removed this long after it finished;
    /// zero keeps it forever. A plain number is days (<c>7</c>), as TimeSpan reads it; <c>12:00:00</c> is 12 hours.
    /// </summary>
    public TimeSpan FinishedTasks { get; set; } = TimeSpan.FromDays(7);

    public bool KeepsForever => FinishedTasks == TimeSpan.Zero;

    /// <summary>Longer periods are refused: an expiry time beyond the calendar would fail every finished task.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(36500);

    /// <summary>Null when valid, else the start error naming the setting.</summary>
    public string? Validate() => FinishedTasks < TimeSpan.Zero || FinishedTasks > Longest
        ? $"{FinishedTasksSetting} is {FinishedTasks}, which is {(FinishedTasks < TimeSpan.Zero ? "negative" : "longer than 36500 days")}: "
            + "give a period such as 7 (days) or 12:00:00, or 0 to keep finished tasks forever."
        : null;
}

/// <summary>Attempts and backoff for subtasks that time out, whose worker fails, or whose agent dies.</summary>
public sealed class RetryPolicyOptions
{
    /// <summary>Attempts in all, the first included (1 = no retry).</summary>
    public int MaxAttempts { get; set; } = 2;

    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(2);

    public double BackoffMultiplier { get; set; } = 2;

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The wait before attempt number <paramref name="nextAttempt"/> (2 for the first retry).</summary>
    public TimeSpan BackoffBefore(int nextAttempt)
    {
        var factor = Math.Pow(BackoffMultiplier, Math.Max(0, nextAttempt - 2));
        var wait = TimeSpan.FromTicks((long)Math.Min(InitialBackoff.Ticks * factor, MaxBackoff.Ticks));
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }
}

/// <summary>
/// The clock of the task lifecycle's retention (the task and index grains), keyed as Orleans keys its own clocks: by
/// default the silo's <see cref="TimeProvider"/>, and a test can fake it without stopping Orleans' timers.
/// </summary>
public static class TaskClock
{
    public const string Key = "orchestrator.task-clock";
}

public static class StorageNames
{
    /// <summary>The grain storage every orchestrator grain uses.</summary>
    public const string Orchestrator = "orchestrator";
}
