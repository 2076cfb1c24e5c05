using Orchestrator.Core.Domains;

namespace Orchestrator.Worker.Isolation;

/// <summary>
/// Reads the workspace's HEAD with git, bounded by a short timeout so that a slow disk never holds up a submit.
/// A workspace that is no repository's top level costs nothing: no git is started.
/// </summary>
public sealed class GitWorkspaceRevision(string workspace) : IWorkspaceRevision
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<string?> HeadAsync(CancellationToken cancellationToken)
    {
        if (!Path.Exists(Path.Combine(workspace, ".git")))
        {
            return null;
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(Timeout);
        try
        {
            var head = await new Git(workspace).RunAsync(["rev-parse", "--verify", "-q", "HEAD"], cancellationToken: bounded.Token).ConfigureAwait(false);
            return head.Succeeded && SafeNames.IsCommitId(head.Stdout.Trim()) ? head.Stdout.Trim() : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null; // the workers fall back to HEAD when they take the task
        }
    }
}
