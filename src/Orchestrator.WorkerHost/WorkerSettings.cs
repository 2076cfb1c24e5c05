using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using Orchestrator.Core.Domains;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.WorkerHost;

/// <summary>
/// The worker's configuration, from environment variables as the reference's containers set them. Every value is
/// checked at start; a bad one stops the worker with a message naming it.
/// </summary>
public sealed partial record WorkerSettings
{
    public required string AgentId { get; init; }
    public required string DomainType { get; init; }
    public required string RedisUrl { get; init; }
    public string Role { get; init; } = "domain";
    public string Workspace { get; init; } = "/workspace";
    public string AgentCommand { get; init; } = AgentCommandOptions.ClaudeCode;
    public string AgentConfig { get; init; } = "/agent-config";
    public int Concurrency { get; init; } = 1;
    public string? ContainerId { get; init; }
    public IReadOnlyList<string> IgnorePatterns { get; init; } = [];
    /// <summary>Names of this worker's variables its agents get (the model key); nothing else of its environment reaches them.</summary>
    public IReadOnlyList<string> PassEnvironment { get; init; } = ["ANTHROPIC_API_KEY"];
    public MergeMode MergeMode { get; init; } = MergeMode.Merge;
    public TimeSpan KeepMergedBranches { get; init; } = TimeSpan.Zero;
    public int MaxLineBytes { get; init; } = 16 * 1024;
    public long MaxLogBytes { get; init; } = 4 * 1024 * 1024;
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RedisWait { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>An attempt with no output and no change in its worktree for this long is killed as stalled.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>How the agent's output tells its usage; null takes the preset's.</summary>
    public UsageFormat? UsageFormat { get; init; }
    /// <summary>Live cost estimates, USD per million tokens by model (or <c>default</c>).</summary>
    public Dictionary<string, ModelPrice> Prices { get; init; } = PriceTable.Default();

    /// <summary>The reference's ratio: a 30 s TTL for a 10 s heartbeat.</summary>
    public TimeSpan HeartbeatTtl => HeartbeatInterval * 3;

    /// <summary>Reads and checks the settings; throws <see cref="WorkerSettingsException"/> naming the first bad one.</summary>
    public static WorkerSettings FromEnvironment(IDictionary environment)
    {
        string? Get(string name) => environment[name] is string { Length: > 0 } value ? value.Trim() : null;

        var domainType = Get("DOMAIN_TYPE") ?? throw new WorkerSettingsException("DOMAIN_TYPE", "is not set; give the domain this worker serves, e.g. backend");
        if (!NamePattern().IsMatch(domainType))
        {
            throw new WorkerSettingsException("DOMAIN_TYPE", $"'{domainType}' is not a domain name (lowercase letters, digits, - and _)");
        }

        var redis = Get("REDIS_URL") ?? throw new WorkerSettingsException("REDIS_URL", "is not set; give the network's Redis, e.g. redis://127.0.0.1:6379");
        try
        {
            Orchestrator.Redis.RedisConnection.Parse(redis);
        }
        catch (ArgumentException e)
        {
            throw new WorkerSettingsException("REDIS_URL", e.Message);
        }

        var agentId = Get("AGENT_ID") ?? DomainIds.New(domainType);
        if (!NamePattern().IsMatch(agentId))
        {
            throw new WorkerSettingsException("AGENT_ID", $"'{agentId}' is not an agent id (lowercase letters, digits, - and _)");
        }

        var role = Get("AGENT_ROLE") ?? "domain";
        if (role is not ("domain" or "worker"))
        {
            throw new WorkerSettingsException("AGENT_ROLE", $"'{role}' is not domain or worker");
        }

        var workspace = Get("WORKSPACE") ?? "/workspace";
        if (!Directory.Exists(workspace))
        {
            throw new WorkerSettingsException("WORKSPACE", $"'{workspace}' is not a directory; mount or create the shared workspace");
        }

        var mergeMode = (Get("MERGE_MODE") ?? "merge") switch
        {
            "merge" => MergeMode.Merge,
            "branch" => MergeMode.Branch,
            var other => throw new WorkerSettingsException("MERGE_MODE", $"'{other}' is not merge or branch"),
        };

        UsageFormat? usageFormat = null;
        if (Get("AGENT_USAGE_FORMAT") is { } format)
        {
            usageFormat = UsageFormats.TryParse(format, out var parsed) ? parsed
                : throw new WorkerSettingsException("AGENT_USAGE_FORMAT", $"'{format}' is not {UsageFormats.Names}");
        }

        Dictionary<string, ModelPrice> prices;
        try
        {
            prices = Get("AGENT_PRICES") is { } table ? PriceTable.Parse(table) : PriceTable.Default();
        }
        catch (FormatException e)
        {
            throw new WorkerSettingsException("AGENT_PRICES", e.Message);
        }

        return new WorkerSettings
        {
            AgentId = agentId,
            DomainType = domainType,
            RedisUrl = redis,
            Role = role,
            Workspace = Path.GetFullPath(workspace),
            AgentCommand = Get("AGENT_COMMAND") ?? AgentCommandOptions.ClaudeCode,
            AgentConfig = Get("AGENT_CONFIG") ?? "/agent-config",
            Concurrency = Positive(Get("WORKER_CONCURRENCY"), "WORKER_CONCURRENCY", 1),
            ContainerId = Get("CONTAINER_ID") ?? ContainerIdFromMounts(),
            IgnorePatterns = List(Get("IGNORE_PATTERNS")),
            // Set but empty: the agents get none (unset: the model key).
            PassEnvironment = environment.Contains("AGENT_PASS_ENVIRONMENT") ? List(environment["AGENT_PASS_ENVIRONMENT"] as string) : ["ANTHROPIC_API_KEY"],
            MergeMode = mergeMode,
            KeepMergedBranches = TimeSpan.FromDays(NonNegative(Get("KEEP_MERGED_BRANCHES_DAYS"), "KEEP_MERGED_BRANCHES_DAYS")),
            MaxLineBytes = Positive(Get("MAX_LINE_BYTES"), "MAX_LINE_BYTES", 16 * 1024),
            MaxLogBytes = Positive(Get("MAX_LOG_BYTES"), "MAX_LOG_BYTES", 4L * 1024 * 1024),
            ShutdownGrace = TimeSpan.FromSeconds(Positive(Get("SHUTDOWN_GRACE_SECONDS"), "SHUTDOWN_GRACE_SECONDS", 30)),
            HeartbeatInterval = TimeSpan.FromSeconds(Positive(Get("HEARTBEAT_INTERVAL_SECONDS"), "HEARTBEAT_INTERVAL_SECONDS", 10)),
            RedisWait = TimeSpan.FromSeconds(Positive(Get("REDIS_WAIT_SECONDS"), "REDIS_WAIT_SECONDS", 30)),
            StallTimeout = TimeSpan.FromSeconds(Positive(Get("STALL_TIMEOUT_SECONDS"), "STALL_TIMEOUT_SECONDS", 600)),
            UsageFormat = usageFormat,
            Prices = prices,
        };
    }

    private static string[] List(string? commaSeparated) =>
        (commaSeparated ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int NonNegative(string? text, string name) =>
        text is null ? 0
        : int.TryParse(text, out var value) && value >= 0 ? value
        : throw new WorkerSettingsException(name, $"'{text}' is not a whole number of days (0 or more)");

    private static T Positive<T>(string? text, string name, T fallback) where T : IBinaryInteger<T> =>
        text is null ? fallback
        : T.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > T.Zero ? value
        : throw new WorkerSettingsException(name, $"'{text}' is not a positive whole number");

    /// <summary>Inside a Docker container, its id appears in the mount table (the reference registers it as container_id).</summary>
    private static string? ContainerIdFromMounts()
    {
        try
        {
            return File.Exists("/proc/self/mountinfo") && ContainerIdPattern().Match(File.ReadAllText("/proc/self/mountinfo")) is { Success: true } match
                ? match.Groups[1].Value
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,99}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("/containers/([0-9a-f]{64})/")]
    private static partial Regex ContainerIdPattern();
}

/// <summary>A setting that stops the worker at start; the message begins with the variable's name.</summary>
public sealed class WorkerSettingsException(string name, string problem) : Exception($"{name} {problem}.");
