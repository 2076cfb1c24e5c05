namespace Orchestrator.Core.Domains;

/// <summary>The commit the shared workspace is at: recorded once per task as the base every attempt starts from.</summary>
public interface IWorkspaceRevision
{
    /// <summary>The workspace's HEAD commit, or null when it is not a git repository (or git does not answer in time).</summary>
    Task<string?> HeadAsync(CancellationToken cancellationToken);
}
