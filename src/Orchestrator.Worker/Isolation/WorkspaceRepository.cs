namespace Orchestrator.Worker.Isolation;

/// <summary>
/// The git repository behind a workspace. A workspace that is a repository's top level is used as it is; any
/// other workspace gets a private repository in <c>.orchestrator/repo</c> whose work tree is the workspace
/// (the workspace itself gains no <c>.git</c>), so that both kinds isolate, attribute and merge the same way.
/// Everything of ours lives under <c>&lt;workspace&gt;/.orchestrator/</c>, excluded through the repository's
/// <c>info/exclude</c>; nothing is committed to tell git so.
/// </summary>
public sealed class WorkspaceRepository
{
    public const string StateFolder = ".orchestrator";
    private const string ExcludeLine = "/" + StateFolder + "/";
    private static readonly string[] Identity = ["-c", "user.name=orchestrator", "-c", "user.email=orchestrator@localhost", "-c", "commit.gpgsign=false"];

    private WorkspaceRepository(string workspace, Git git, string commonDirectory, bool isPrivate)
    {
        Workspace = workspace;
        Main = git;
        CommonDirectory = commonDirectory;
        IsPrivate = isPrivate;
    }

    public string Workspace { get; }

    /// <summary>git for the workspace's own checkout (the main worktree).</summary>
    public Git Main { get; }

    /// <summary>The repository's common directory, where the merge lock and worktree records live.</summary>
    public string CommonDirectory { get; }

    /// <summary>True for the private repository of a workspace that is not a git repository.</summary>
    public bool IsPrivate { get; }

    public string WorktreesDirectory => Path.Combine(Workspace, StateFolder, "worktrees");

    public static async Task<WorkspaceRepository> OpenAsync(string workspace, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(workspace, StateFolder));
        // Workers of several domains open one workspace at once: one of them creates the private repository and
        // writes the exclude line while the others wait, instead of finding a half-made repository.
        using var opening = await FileLock.AcquireAsync(Path.Combine(workspace, StateFolder, "open.lock"), cancellationToken).ConfigureAwait(false);
        var own = new Git(workspace);
        var prefix = await own.RunAsync(["rev-parse", "--show-prefix"], cancellationToken: cancellationToken).ConfigureAwait(false);
        WorkspaceRepository repository;
        if (prefix.Succeeded && prefix.Stdout.Trim().Length == 0)
        {
            var common = (await own.CheckAsync(["rev-parse", "--git-common-dir"], cancellationToken: cancellationToken).ConfigureAwait(false)).Trim();
            repository = new WorkspaceRepository(workspace, own, Path.GetFullPath(common, workspace), isPrivate: false);
        }
        else
        {
            var gitDirectory = Path.Combine(workspace, StateFolder, "repo");
            var git = new Git(workspace, [$"--git-dir={gitDirectory}", $"--work-tree={workspace}"]);
            if (!Directory.Exists(gitDirectory))
            {
                await git.CheckAsync(["init", "-q"], cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            repository = new WorkspaceRepository(workspace, git, gitDirectory, isPrivate: true);
        }

        await repository.EnsureExcludedAsync(cancellationToken).ConfigureAwait(false);
        return repository;
    }

    /// <summary>
    /// The lock every change to the workspace's checkout and to its list of worktrees is made under, across processes
    /// and containers (git's worktree commands read each other's half-made records when run at once).
    /// </summary>
    public Task<FileLock> LockAsync(CancellationToken cancellationToken) =>
        FileLock.AcquireAsync(Path.Combine(CommonDirectory, "orchestrator-merge.lock"), cancellationToken);

    /// <summary>
    /// What an attempt starts from: <paramref name="requested"/> (the task's base commit) when it is a commit id,
    /// else HEAD. A private repository first records the workspace as it is now, and always starts from that.
    /// </summary>
    public async Task<string> StartPointAsync(string? requested, CancellationToken cancellationToken)
    {
        if (IsPrivate)
        {
            using (await LockAsync(cancellationToken).ConfigureAwait(false))
            {
                await RecordWorkspaceAsync(cancellationToken).ConfigureAwait(false);
            }

            return "HEAD";
        }

        return SafeNames.IsCommitId(requested) ? requested! : "HEAD";
    }

    /// <summary>
    /// <c>git worktree add</c> of a new branch at <paramref name="startPoint"/>. A base commit this repository does not
    /// have falls back to HEAD; a repository without any commit starts from a parentless empty commit that no branch
    /// references. Nothing is checked beforehand: the common case costs one git call.
    /// </summary>
    public async Task<GitOutput> AddWorktreeAsync(string branch, string directory, string startPoint, CancellationToken cancellationToken)
    {
        using var held = await LockAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var added = await Main.RunAsync(["worktree", "add", "--lock", "-q", "-b", branch, directory, startPoint], cancellationToken: cancellationToken).ConfigureAwait(false);
            if (added.Succeeded || !added.Stderr.Contains("invalid reference", StringComparison.Ordinal))
            {
                return added;
            }

            if (startPoint != "HEAD")
            {
                startPoint = "HEAD";
                continue;
            }

            var emptyTree = (await Main.CheckAsync(["hash-object", "-t", "tree", "--stdin"], "", cancellationToken).ConfigureAwait(false)).Trim();
            startPoint = (await Main.CheckAsync([.. Identity, "commit-tree", emptyTree, "-m", "Empty start (the repository had no commit)"],
                cancellationToken: cancellationToken).ConfigureAwait(false)).Trim();
        }
    }

    /// <summary>The commit a branch points at: its loose ref file when there is one (a branch just made), else git's answer.</summary>
    public async Task<string> BranchCommitAsync(string branch, CancellationToken cancellationToken)
    {
        var loose = Path.Combine(CommonDirectory, "refs", "heads", branch);
        if (File.Exists(loose) && (await File.ReadAllTextAsync(loose, cancellationToken).ConfigureAwait(false)).Trim() is var commit && SafeNames.IsCommitId(commit))
        {
            return commit;
        }

        return (await Main.CheckAsync(["rev-parse", "--verify", "refs/heads/" + branch], cancellationToken: cancellationToken).ConfigureAwait(false)).Trim();
    }

    /// <summary>The current branch's short name, or <c>HEAD</c> when detached.</summary>
    public async Task<string> CurrentBranchAsync(CancellationToken cancellationToken)
    {
        var branch = await Main.RunAsync(["symbolic-ref", "--short", "-q", "HEAD"], cancellationToken: cancellationToken).ConfigureAwait(false);
        return branch.Succeeded ? branch.Stdout.Trim() : "HEAD";
    }

    /// <summary>
    /// Merges <paramref name="branch"/> into the current branch. A conflict, or local changes git will not
    /// overwrite, aborts the merge and leaves the checkout as it was; the files are returned.
    /// </summary>
    public async Task<MergeResult> MergeAsync(string branch, string message, CancellationToken cancellationToken)
    {
        using var held = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (IsPrivate)
        {
            await RecordWorkspaceAsync(cancellationToken).ConfigureAwait(false); // the user's edits since, so the merge weighs them
        }

        var merge = await Main.RunAsync([.. Identity, "merge", "--no-ff", "--no-edit", "-q", "-m", message, branch], cancellationToken: cancellationToken).ConfigureAwait(false);
        if (merge.Succeeded)
        {
            return new MergeResult(true, [], null);
        }

        var unmerged = await Main.RunAsync(["diff", "--name-only", "-z", "--diff-filter=U"], cancellationToken: cancellationToken).ConfigureAwait(false);
        var conflicts = Split(unmerged.Stdout);
        if (conflicts.Count > 0)
        {
            await Main.RunAsync(["merge", "--abort"], cancellationToken: cancellationToken).ConfigureAwait(false);
            return new MergeResult(false, conflicts, "both sides changed these files");
        }

        // Refused before it began, e.g. "Your local changes to the following files would be overwritten by merge": the files are indented with a tab.
        var named = merge.Stderr.Split('\n').Where(l => l.StartsWith('\t')).Select(l => l.Trim()).ToArray();
        return new MergeResult(false, named, merge.Stderr.Trim());
    }

    /// <summary>
    /// A private repository's commit of the workspace as it is (the user's and other tools' edits). It runs under the
    /// merge lock twice per attempt, so the usual case — nothing changed since — costs one git call (a status that also
    /// tells an unborn branch), not three.
    /// </summary>
    private async Task RecordWorkspaceAsync(CancellationToken cancellationToken)
    {
        var status = await Main.CheckAsync(["status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all", "--ignored=no"],
            cancellationToken: cancellationToken).ConfigureAwait(false);
        var entries = Split(status);
        var unborn = entries.Contains("# branch.oid (initial)");
        if (!unborn && entries.All(entry => entry.StartsWith("# ", StringComparison.Ordinal)))
        {
            return;
        }

        await Main.CheckAsync(["add", "-A"], cancellationToken: cancellationToken).ConfigureAwait(false);
        // Status lists what add -A may not stage (a nested repository's own changes): only what it staged is recorded.
        if (unborn || !(await Main.RunAsync(["diff", "--cached", "--quiet"], cancellationToken: cancellationToken).ConfigureAwait(false)).Succeeded)
        {
            await Main.CheckAsync([.. Identity, "commit", "-q", "--allow-empty", "--no-verify", "-m", "The workspace as the orchestrator found it"],
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task EnsureExcludedAsync(CancellationToken cancellationToken)
    {
        var exclude = Path.Combine(CommonDirectory, "info", "exclude");
        Directory.CreateDirectory(Path.GetDirectoryName(exclude)!);
        using var held = await LockAsync(cancellationToken).ConfigureAwait(false);
        var lines = File.Exists(exclude) ? File.ReadAllLines(exclude) : [];
        if (!lines.Contains(ExcludeLine))
        {
            File.AppendAllText(exclude, (lines.Length > 0 && !File.ReadAllText(exclude).EndsWith('\n') ? "\n" : "") + ExcludeLine + "\n");
        }
    }

    public static IReadOnlyList<string> Split(string nulSeparated) => nulSeparated.Split('\0', StringSplitOptions.RemoveEmptyEntries);
}

public sealed record MergeResult(bool Merged, IReadOnlyList<string> Conflicts, string? Error);
