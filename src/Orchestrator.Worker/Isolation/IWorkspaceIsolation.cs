using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker.Isolation;

/// <summary>Gives each attempt a place of its own to run in and brings its work back afterwards.</summary>
public interface IWorkspaceIsolation
{
    /// <summary>Removes what attempts of a crashed worker left behind; called once when a worker starts.</summary>
    Task SweepLeftoversAsync(CancellationToken cancellationToken);

    Task<IIsolatedAttempt> BeginAsync(TaskMessage message, CancellationToken cancellationToken);
}

/// <summary>One attempt's directory; disposing it removes what must not outlive the attempt.</summary>
public interface IIsolatedAttempt : IAsyncDisposable
{
    /// <summary>Where the agent runs.</summary>
    string Directory { get; }

    /// <summary>Records the attempt's work (committed on its branch) and, for a completed attempt, merges it per the mode.</summary>
    Task<AttemptReport> FinishAsync(bool completed, string agentId, CancellationToken cancellationToken);
}

/// <summary>No isolation: every attempt runs in the workspace itself and reports no files (agents that do not touch it, e.g. the benchmark's no-op).</summary>
public sealed class SharedWorkspace(string workspace) : IWorkspaceIsolation, IIsolatedAttempt
{
    public string Directory => workspace;

    public Task SweepLeftoversAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<IIsolatedAttempt> BeginAsync(TaskMessage message, CancellationToken cancellationToken) => Task.FromResult<IIsolatedAttempt>(this);

    public Task<AttemptReport> FinishAsync(bool completed, string agentId, CancellationToken cancellationToken) => Task.FromResult(AttemptReport.NotIsolated);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
