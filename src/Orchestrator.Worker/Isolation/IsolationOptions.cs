namespace Orchestrator.Worker.Isolation;

/// <summary>How a domain's attempts are isolated from each other and brought back into the workspace.</summary>
public sealed class IsolationOptions
{
    /// <summary>The shared workspace (absolute).</summary>
    public required string Workspace { get; init; }

    /// <summary>The domain served; it names worktrees and branches and picks the template.</summary>
    public required string DomainType { get; init; }

    /// <summary>
    /// <see cref="MergeMode.Merge"/>: a completed attempt's branch is merged into the workspace's current branch.
    /// <see cref="MergeMode.Branch"/>: it is left on its branch for review.
    /// </summary>
    public MergeMode Mode { get; init; } = MergeMode.Merge;

    /// <summary>How long a merged attempt's branch is kept before the sweep at a worker's start deletes it; zero deletes it at once.</summary>
    public TimeSpan KeepMergedBranches { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// The domain template (a folder with <c>CLAUDE.md</c> and/or <c>.claude/</c>) copied into every worktree; the
    /// template wins over the repository's own copies there, and these paths never reach a commit.
    /// </summary>
    public string? TemplateDirectory { get; init; }

    /// <summary>Globs of paths left out of the file lists and the commit (beside the repository's own ignore rules).</summary>
    public IReadOnlyList<string> IgnorePatterns { get; init; } = [];
}

public enum MergeMode
{
    Merge,
    Branch,
}
