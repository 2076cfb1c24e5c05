using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker.Agents;

/// <summary>Runs one task with an agent and tells how it went. Output lines go to <paramref name="output"/> as they come.</summary>
public interface IAgentRunner
{
    Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken);
}

/// <summary>One run: the task, its prompt, the directory the agent works in, and the domain the worker serves.</summary>
public sealed record AgentRun(TaskMessage Message, string Prompt, string Directory, string DomainType);

/// <summary>
/// How a run ended. <see cref="ExitCode"/> 0 is success; a run stopped by its timeout or by a cancel has
/// <see cref="StopReason"/> set and the agent's whole process group killed.
/// </summary>
public sealed record AgentOutcome(int? ExitCode, string? StopReason, string StdoutTail, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0 && StopReason is null;

    /// <summary>Stopped by the task's own timeout.</summary>
    public bool TimedOut { get; init; }

    /// <summary>Stopped because it went over the task's budget; not worth another attempt.</summary>
    public bool BudgetExceeded { get; init; }

    /// <summary>Stopped because it wrote nothing and changed nothing for the stall period.</summary>
    public bool Stalled { get; init; }

    /// <summary>Tokens and cost, when the agent's output tells them.</summary>
    public TokenUsage? Usage { get; init; }
}
