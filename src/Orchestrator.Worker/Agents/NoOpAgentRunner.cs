using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker.Agents;

/// <summary>Completes every task at once without touching the workspace; the benchmark's agent, measuring the orchestrator alone.</summary>
public sealed class NoOpAgentRunner : IAgentRunner
{
    public Task<AgentOutcome> RunAsync(TaskMessage message, string prompt, Action<string> output, CancellationToken cancellationToken) =>
        Task.FromResult(new AgentOutcome(0, null, "", FileChanges.None, TimeSpan.Zero));
}
