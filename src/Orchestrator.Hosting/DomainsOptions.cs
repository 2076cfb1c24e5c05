using Orchestrator.Worker.Agents;

namespace Orchestrator.Hosting;

/// <summary>How domains are run, bound from the <c>Domains</c> configuration section.</summary>
public sealed class DomainsOptions
{
    public const string SectionName = "Domains";

    /// <summary><c>embedded</c>: each domain's worker loop runs inside the silo's process.</summary>
    public string Runtime { get; set; } = "embedded";

    /// <summary>The shared workspace all domains work in.</summary>
    public string Workspace { get; set; } = "workspace";

    /// <summary>The agent every domain runs unless <see cref="Types"/> says otherwise.</summary>
    public AgentOptions Agent { get; set; } = new();

    /// <summary>Per domain type overrides of <see cref="Agent"/>, e.g. <c>Domains:Types:frontend:Command</c>.</summary>
    public Dictionary<string, AgentOptions> Types { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public AgentOptions AgentFor(string domainType) => Types.TryGetValue(domainType, out var specific) ? specific : Agent;

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

    public List<string> IgnorePatterns { get; set; } = [];

    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);
}
