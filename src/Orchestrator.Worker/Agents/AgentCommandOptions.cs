namespace Orchestrator.Worker.Agents;

/// <summary>How a domain's agent CLI is started, and what it is given.</summary>
public sealed class AgentCommandOptions
{
    /// <summary>
    /// The production default: Claude Code, reading the prompt on standard input and telling what it does as JSON
    /// events (read for the log and for its usage; see <see cref="UsageFormat.ClaudeStreamJson"/>).
    /// </summary>
    public const string ClaudeCode = "claude --dangerously-skip-permissions -p --output-format stream-json --verbose";

    /// <summary>
    /// A shell command run with <c>/bin/sh -c</c> in the attempt's directory. The prompt arrives on standard input; the
    /// environment also has <c>PROMPT_FILE</c> (the prompt in a file, for CLIs that take it as an argument),
    /// <c>TASK_ID</c>, <c>DOMAIN_TYPE</c> and <c>WORKSPACE</c>. The word <c>{demo}</c> stands for the shipped demo agent's path.
    /// </summary>
    public string Command { get; set; } = ClaudeCode;

    /// <summary>
    /// Names of the worker's environment variables the agent gets besides the fixed allow-list (PATH, HOME, LANG,
    /// LC_*, TERM): typically the model's API key. Nothing else of the worker's environment reaches the agent.
    /// </summary>
    public List<string> PassEnvironment { get; set; } = ["ANTHROPIC_API_KEY"];

    /// <summary>How much of the end of standard output goes into the result's <c>stdout</c>.</summary>
    public int StdoutTailChars { get; set; } = 16 * 1024;

    /// <summary>Longer output lines are cut here (with a visible marker); a line is never held in memory whole.</summary>
    public int MaxLineBytes { get; set; } = 16 * 1024;

    /// <summary>How the agent's output tells its usage; null takes the preset's (none for a command of one's own).</summary>
    public UsageFormat? Usage { get; set; }

    /// <summary>US dollars per million tokens, by model or <c>default</c>, for live cost estimates (see <see cref="PriceTable"/>).</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = PriceTable.Default();

    /// <summary>An attempt with no output and no change in its directory for this long is killed as stalled.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The shipped demo agent, which stands in for a real agent on a machine that has none.</summary>
    public static string DemoAgentPath => Path.Combine(AppContext.BaseDirectory, "agents", "demo-agent.sh");

    /// <summary>
    /// Ready-made commands by name, each declaring how its usage is read: <c>claude-code</c> (the default), <c>codex</c>,
    /// <c>aider</c> (text only), and <c>demo</c> (the shipped demo agent). Any other text is the command itself.
    /// </summary>
    public static IReadOnlyDictionary<string, AgentPreset> Presets { get; } = new Dictionary<string, AgentPreset>(StringComparer.OrdinalIgnoreCase)
    {
        ["claude-code"] = new(ClaudeCode, UsageFormat.ClaudeStreamJson),
        ["codex"] = new("codex exec --json --full-auto --skip-git-repo-check \"$(cat \"$PROMPT_FILE\")\"", UsageFormat.CodexJson),
        ["aider"] = new("aider --yes-always --no-auto-commits --no-check-update --message-file \"$PROMPT_FILE\"", UsageFormat.None),
        ["demo"] = new("{demo}", UsageFormat.None),
    };

    private AgentPreset? Preset =>
        Presets.TryGetValue(Command.Trim(), out var preset) ? preset
        : Presets.Values.FirstOrDefault(p => p.Command == Command.Trim()); // the default, written out

    public string ResolvedCommand =>
        (Preset?.Command ?? Command).Replace("{demo}", $"bash '{DemoAgentPath}'", StringComparison.Ordinal);

    public UsageFormat ResolvedUsage => Usage ?? Preset?.Usage ?? UsageFormat.None;
}

/// <summary>A ready-made agent command and how its output tells its usage.</summary>
public sealed record AgentPreset(string Command, UsageFormat Usage);
