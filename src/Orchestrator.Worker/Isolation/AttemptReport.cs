using Orchestrator.Contracts;

namespace Orchestrator.Worker.Isolation;

/// <summary>The files a run changed.</summary>
public sealed record FileChanges(IReadOnlyList<string> Created, IReadOnlyList<string> Modified, IReadOnlyList<string> Deleted)
{
    public static FileChanges None { get; } = new([], [], []);
}

/// <summary>What became of an attempt's work: its files, its commit and branch, and whether it was merged.</summary>
public sealed record AttemptReport(FileChanges Files)
{
    public string? BaseCommit { get; init; }
    /// <summary>The attempt's branch while it still exists (kept for review, on a conflict, or within the keep period).</summary>
    public string? Branch { get; init; }
    public string? Commit { get; init; }
    /// <summary><c>merged</c>, <c>branch</c> (left for review), <c>conflict</c>, <c>no_changes</c>; null when not isolated.</summary>
    public string? Merge { get; init; }
    /// <summary>The branch (or <c>HEAD</c> when detached) the attempt was merged into, or would have been.</summary>
    public string? MergedInto { get; init; }
    public IReadOnlyList<string> Conflicts { get; init; } = [];
    /// <summary>Git's own words when a merge was refused or isolation failed.</summary>
    public string? MergeError { get; init; }

    /// <summary>The change itself, per file, as made (before the merge); see <see cref="DiffOfOutcome"/>.</summary>
    public DomainDiff? Diff { get; init; }

    public static AttemptReport NotIsolated { get; } = new(FileChanges.None);

    /// <summary>The diff with what became of it: merged or not, and which of its files conflicted.</summary>
    public DomainDiff? DiffOfOutcome() => Diff is not { } diff ? null : diff with
    {
        Merge = Merge,
        Branch = Branch,
        Files = Conflicts.Count == 0 ? diff.Files : diff.Files.Select(f => f with { Conflict = Conflicts.Contains(f.Path) }).ToArray(),
    };
}
