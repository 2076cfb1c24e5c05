namespace Orchestrator.Worker.Agents;

/// <summary>Completes every task at once without touching the workspace; the benchmark's agent, measuring the orchestrator alone.</summary>
public sealed class NoOpAgentRunner : IAgentRunner
{
    public Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken) =>
        Task.FromResult(new AgentOutcome(0, null, "", TimeSpan.Zero));
}
