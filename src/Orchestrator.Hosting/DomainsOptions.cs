using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Hosting;

/// <summary>How domains are run, bound from the <c>Domains</c> configuration section.</summary>
public sealed class DomainsOptions
{
    public const string SectionName = "Domains";

    /// <summary><c>embedded</c>: each domain's worker loop runs inside the silo's process.</summary>
    public string Runtime { get; set; } = "embedded";

    /// <summary>The shared workspace all domains work in.</summary>
    public string Workspace { get; set; } = "workspace";

    /// <summary>Domain templates, one folder per domain type (<c>CLAUDE.md</c>, <c>.claude/</c>), copied into each attempt's worktree.</summary>
    public string Templates { get; set; } = Path.Combine(AppContext.BaseDirectory, "domain-templates");

    /// <summary>The agent every domain runs unless <see cref="Types"/> says otherwise.</summary>
    public AgentOptions Agent { get; set; } = new();

    /// <summary>Per domain type overrides of <see cref="Agent"/>, e.g. <c>Domains:Types:frontend:Command</c>.</summary>
    public Dictionary<string, AgentOptions> Types { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public AgentOptions AgentFor(string domainType) => Types.TryGetValue(domainType, out var specific) ? specific : Agent;

    /// <summary>
    /// The names of the silo's variables a domain type's agents get: its own <see cref="AgentOptions.PassEnvironment"/>,
    /// else <see cref="Agent"/>'s, else the default. Unlike the other settings a type override inherits it, so that
    /// narrowing it for every agent cannot be undone by a type override that never mentions it.
    /// </summary>
    public IReadOnlyList<string> PassedEnvironmentFor(string domainType) =>
        (AgentFor(domainType).PassEnvironment ?? Agent.PassEnvironment) is { } configured
            ? configured.Select(name => name.Trim()).Where(name => name.Length > 0).ToArray()
            : AgentOptions.DefaultPassEnvironment;

    public string WorkspacePath => Path.GetFullPath(Workspace);
}

public sealed class AgentOptions
{
    /// <summary><c>process</c> runs <see cref="Command"/>; <c>noop</c> completes every task at once (benchmarks).</summary>
    public string Kind { get; set; } = "process";

    /// <summary>The agent CLI; see <see cref="AgentCommandOptions.Command"/>. <c>{demo}</c> is the shipped demo agent.</summary>
    public string Command { get; set; } = AgentCommandOptions.ClaudeCode;

    /// <summary>Tasks one domain instance runs at once.</summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>Globs left out of the file lists and the attempt's commit, beside the repository's own ignore rules.</summary>
    public List<string> IgnorePatterns { get; set; } = [];

    /// <summary>
    /// Names of the silo's environment variables the agent gets; nothing else of the silo's environment reaches it.
    /// Unset, the model key (<see cref="DefaultPassEnvironment"/>). Configured, it replaces that default rather than
    /// adding to it (the configuration binder appends to a list it finds filled); a blank name is none, so that
    /// <c>Domains__Agent__PassEnvironment__0=</c> gives the agent no variable at all (configuration has no empty list).
    /// What an agent gets is <see cref="DomainsOptions.PassedEnvironmentFor"/>.
    /// </summary>
    public List<string>? PassEnvironment { get; set; }

    public static IReadOnlyList<string> DefaultPassEnvironment { get; } = ["ANTHROPIC_API_KEY"];

    /// <summary><c>merge</c>: a completed attempt's branch is merged into the workspace's current branch; <c>branch</c>: left for review.</summary>
    public MergeMode Merge { get; set; } = MergeMode.Merge;

    /// <summary>How long merged attempt branches are kept (deleted at a later worker start); zero deletes them at once.</summary>
    public TimeSpan KeepMergedBranches { get; set; } = TimeSpan.Zero;

    /// <summary>Agent output lines longer than this are cut, with a marker.</summary>
    public int MaxLineBytes { get; set; } = 16 * 1024;

    /// <summary>Agent output kept in the task log per attempt; past it a marker line, then nothing.</summary>
    public long MaxLogBytes { get; set; } = 4 * 1024 * 1024;

    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>An attempt with no output and no change in its worktree for this long is killed and retried as stalled.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How the agent's output tells its usage (none, claude-stream-json, codex-json); unset takes the preset's.</summary>
    public string? UsageFormat { get; set; }

    /// <summary>USD per million tokens by model or <c>default</c>, for live cost estimates; unset takes <see cref="PriceTable.Default"/>.</summary>
    public Dictionary<string, ModelPrice>? Prices { get; set; }

    /// <summary>The configured usage format, checked; throws naming the setting.</summary>
    public UsageFormat? ParsedUsageFormat() =>
        UsageFormat is null ? null
        : UsageFormats.TryParse(UsageFormat, out var format) ? format
        : throw new InvalidOperationException($"Domains:Agent:UsageFormat '{UsageFormat}' is not {UsageFormats.Names}.");

    /// <summary>The configured price table, checked; throws naming the setting.</summary>
    public Dictionary<string, ModelPrice> CheckedPrices() =>
        Prices is null ? PriceTable.Default()
        : PriceTable.Validate(Prices) is { } problem ? throw new InvalidOperationException($"Domains:Agent:Prices: {problem}.")
        : new Dictionary<string, ModelPrice>(Prices, StringComparer.OrdinalIgnoreCase);
}
