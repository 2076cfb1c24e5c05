using Microsoft.Extensions.FileSystemGlobbing;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker.Isolation;

/// <summary>
/// Every attempt in its own git worktree on its own branch, made from the task's base commit under
/// <c>&lt;workspace&gt;/.orchestrator/worktrees/&lt;task&gt;-&lt;domain&gt;-&lt;attempt&gt;</c>. Its files come from git,
/// its work is committed on <c>orchestrator/&lt;task&gt;/&lt;domain&gt;-&lt;attempt&gt;</c> and merged per the mode. All of
/// it runs in this worker, where the worktree's absolute paths are valid.
/// </summary>
public sealed partial class WorktreeIsolation(IsolationOptions options, ILogger<WorktreeIsolation> logger) : IWorkspaceIsolation
{
    private readonly SemaphoreSlim _opening = new(1, 1);
    private readonly Matcher _excluded = ExclusionsOf(options);
    private WorkspaceRepository? _repository;

    private IsolationOptions Options => options;

    public async Task SweepLeftoversAsync(CancellationToken cancellationToken)
    {
        var repository = await RepositoryAsync(cancellationToken).ConfigureAwait(false);
        var removed = new List<string>();
        if (Directory.Exists(repository.WorktreesDirectory))
        {
            foreach (var lockFile in Directory.EnumerateFiles(repository.WorktreesDirectory, "*.lock"))
            {
                using var owner = FileLock.TryAcquire(lockFile);
                if (owner is null)
                {
                    continue; // its attempt is still running, in this process or another
                }

                var name = Path.GetFileNameWithoutExtension(lockFile);
                await RemoveWorktreeAsync(repository, name, cancellationToken).ConfigureAwait(false);
                File.Delete(lockFile);
                removed.Add(name);
            }
        }

        int branches;
        using (await repository.LockAsync(cancellationToken).ConfigureAwait(false))
        {
            await repository.Main.RunAsync(["worktree", "prune"], cancellationToken: cancellationToken).ConfigureAwait(false);
            // Under the lock too: an attempt's branch is made with its worktree under it, and git deletes no branch a
            // worktree has checked out. Outside it, a branch just made (at HEAD, so "merged") could go before its
            // worktree took it, failing another worker's attempt as this one started.
            branches = await DeleteExpiredBranchesAsync(repository, cancellationToken).ConfigureAwait(false);
        }

        if (removed.Count > 0 || branches > 0)
        {
            LogSwept(options.DomainType, removed.Count, branches, string.Join(", ", removed));
        }
    }

    public async Task<IIsolatedAttempt> BeginAsync(TaskMessage message, CancellationToken cancellationToken)
    {
        var repository = await RepositoryAsync(cancellationToken).ConfigureAwait(false);
        var task = SafeNames.IsTaskId(message.ParentTaskId) ? message.ParentTaskId! : message.TaskId;
        var shortId = task[..Math.Min(8, task.Length)];
        var startPoint = await repository.StartPointAsync(message.BaseCommit, cancellationToken).ConfigureAwait(false);
        Directory.CreateDirectory(repository.WorktreesDirectory);
        for (var n = 1; ; n++)
        {
            var suffix = n == 1 ? "" : $"-r{n}";
            var name = $"{shortId}-{options.DomainType}-{message.Attempt}{suffix}";
            var branch = $"orchestrator/{shortId}/{options.DomainType}-{message.Attempt}{suffix}";
            var owner = FileLock.TryAcquire(Path.Combine(repository.WorktreesDirectory, name + ".lock"));
            if (owner is null)
            {
                continue;
            }

            var directory = Path.Combine(repository.WorktreesDirectory, name);
            var added = Directory.Exists(directory)
                ? null
                : await repository.AddWorktreeAsync(branch, directory, startPoint, cancellationToken).ConfigureAwait(false);
            if (added is not { Succeeded: true })
            {
                owner.Dispose();
                if (n < 20 && (added is null || added.Stderr.Contains("already exists", StringComparison.Ordinal)))
                {
                    continue; // a branch or folder of an earlier run with the same number is kept: take the next name
                }

                throw added is null ? new IOException($"No free worktree name for task {task}") : new GitException(added);
            }

            var baseCommit = await repository.BranchCommitAsync(branch, cancellationToken).ConfigureAwait(false);
            CopyTemplate(directory);
            LogWorktree(message.TaskId, directory, branch, baseCommit);
            return new WorktreeAttempt(this, repository, message, name, directory, branch, baseCommit, owner);
        }
    }

    private async Task<WorkspaceRepository> RepositoryAsync(CancellationToken cancellationToken)
    {
        if (_repository is { } known)
        {
            return known;
        }

        await _opening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _repository ??= await WorkspaceRepository.OpenAsync(options.Workspace, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>The domain's template into the worktree; it wins over whatever the repository has there.</summary>
    private void CopyTemplate(string directory)
    {
        if (options.TemplateDirectory is not { } template || !Directory.Exists(template))
        {
            return;
        }

        foreach (var source in Directory.EnumerateFiles(template, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(template, source);
            if (relative == "CLAUDE.md" || relative.StartsWith(".claude" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                var target = Path.Combine(directory, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(source, target, overwrite: true);
            }
        }
    }

    private bool IsExcluded(string path) => _excluded.Match(path).HasMatches;

    private static Matcher ExclusionsOf(IsolationOptions options)
    {
        var matcher = new Matcher(StringComparison.Ordinal);
        if (Directory.Exists(options.TemplateDirectory))
        {
            matcher.AddInclude("CLAUDE.md").AddInclude(".claude/**");
        }

        foreach (var glob in options.IgnorePatterns)
        {
            // A pattern names a path segment anywhere, file or folder, as in .gitignore.
            matcher.AddInclude(glob).AddInclude("**/" + glob).AddInclude(glob + "/**").AddInclude("**/" + glob + "/**");
        }

        return matcher;
    }

    private static async Task RemoveWorktreeAsync(WorkspaceRepository repository, string name, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(repository.WorktreesDirectory, name);
        using var held = await repository.LockAsync(cancellationToken).ConfigureAwait(false);
        var removed = await repository.Main.RunAsync(["worktree", "remove", "--force", "--force", directory], cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!removed.Succeeded)
        {
            // Made where its recorded path is not valid (host vs. container) or half made: remove both halves by hand.
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }

            var record = Path.Combine(repository.CommonDirectory, "worktrees", name);
            if (Directory.Exists(record))
            {
                Directory.Delete(record, recursive: true);
            }
        }
    }

    /// <summary>Merged attempt branches older than the keep period; unmerged ones hold work no one has merged and stay.</summary>
    private async Task<int> DeleteExpiredBranchesAsync(WorkspaceRepository repository, CancellationToken cancellationToken)
    {
        var head = await repository.Main.RunAsync(["rev-parse", "--verify", "-q", "HEAD"], cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!head.Succeeded)
        {
            return 0;
        }

        var refs = await repository.Main.CheckAsync(["for-each-ref", "--merged", "HEAD", "--format=%(refname:short) %(committerdate:unix)", "refs/heads/orchestrator/"],
            cancellationToken: cancellationToken).ConfigureAwait(false);
        var cutoff = DateTimeOffset.UtcNow - options.KeepMergedBranches;
        var expired = refs.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Where(parts => parts.Length == 2 && long.TryParse(parts[1], out var at) && DateTimeOffset.FromUnixTimeSeconds(at) < cutoff)
            .Select(parts => parts[0])
            .ToArray();
        // A hundred a call: the sweep holds the workspace's lock, and an agent can make any number of such branches.
        foreach (var chunk in expired.Chunk(100))
        {
            await repository.Main.RunAsync(["branch", "-D", "-q", .. chunk], cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return expired.Length;
    }

    private sealed class WorktreeAttempt(
        WorktreeIsolation isolation,
        WorkspaceRepository repository,
        TaskMessage message,
        string name,
        string directory,
        string branch,
        string baseCommit,
        FileLock owner) : IIsolatedAttempt
    {
        private bool _deleteBranch;

        public string Directory => directory;

        public async Task<AttemptReport> FinishAsync(bool completed, string agentId, CancellationToken cancellationToken)
        {
            var git = repository.Main.In(directory);
            // One status call tells both the changes and the commit the worktree is at (an agent may commit itself).
            var (changes, headBefore) = ParseStatus(await git.CheckAsync(
                ["status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all", "--no-renames"], cancellationToken: cancellationToken).ConfigureAwait(false));
            var changed = changes.Where(p => !isolation.IsExcluded(p)).ToArray();
            var head = headBefore ?? (await git.CheckAsync(["rev-parse", "HEAD"], cancellationToken: cancellationToken).ConfigureAwait(false)).Trim();
            if (changed.Length > 0)
            {
                await git.CheckAsync(["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"], string.Join('\0', changed), cancellationToken).ConfigureAwait(false);
                var text = $"{(completed ? "" : "Incomplete: ")}{FirstLine(message.Description)}\n\nTask {message.TaskId}, domain {isolation.Options.DomainType}, attempt {message.Attempt}.\n";
                await git.CheckAsync(["-c", $"user.name={agentId}", "-c", $"user.email={agentId}@orchestrator.localhost", "-c", "commit.gpgsign=false",
                    "commit", "-q", "--no-verify", "-F", "-"], text, cancellationToken).ConfigureAwait(false);
                head = (await git.CheckAsync(["rev-parse", "HEAD"], cancellationToken: cancellationToken).ConfigureAwait(false)).Trim();
            }

            if (head == baseCommit)
            {
                _deleteBranch = true;
                return new AttemptReport(FileChanges.None)
                {
                    BaseCommit = baseCommit, Merge = "no_changes",
                    Diff = new DomainDiff { Domain = isolation.Options.DomainType, Attempt = message.Attempt, BaseCommit = baseCommit, Commit = head },
                };
            }

            var entries = Entries(await git.CheckAsync(["diff", "--name-status", "-z", "--no-renames", baseCommit, head], cancellationToken: cancellationToken).ConfigureAwait(false));
            var report = new AttemptReport(FilesOf(entries)) { BaseCommit = baseCommit, MergedInto = await repository.CurrentBranchAsync(cancellationToken).ConfigureAwait(false) };
            report = report with { Commit = head, Branch = branch, Diff = await DiffAsync(git, entries, head, cancellationToken).ConfigureAwait(false) };
            if (!completed || isolation.Options.Mode == MergeMode.Branch)
            {
                return report with { Merge = "branch" };
            }

            var merge = await repository.MergeAsync(branch, $"Merge {branch}: {FirstLine(message.Description)} (task {message.TaskId})", cancellationToken).ConfigureAwait(false);
            if (!merge.Merged)
            {
                isolation.LogConflict(message.TaskId, branch, report.MergedInto!, string.Join(", ", merge.Conflicts), merge.Error ?? "");
                return report with { Merge = "conflict", Conflicts = merge.Conflicts, MergeError = merge.Error };
            }

            _deleteBranch = isolation.Options.KeepMergedBranches <= TimeSpan.Zero;
            isolation.LogMerged(message.TaskId, branch, report.MergedInto!);
            return report with { Merge = "merged", Branch = _deleteBranch ? null : branch };
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await RemoveWorktreeAsync(repository, name, CancellationToken.None).ConfigureAwait(false);
                if (_deleteBranch)
                {
                    await repository.Main.RunAsync(["branch", "-D", "-q", branch]).ConfigureAwait(false);
                }

                File.Delete(Path.Combine(repository.WorktreesDirectory, name + ".lock"));
            }
            finally
            {
                owner.Dispose();
            }
        }

        /// <summary>Changed paths and the HEAD commit from <c>git status --porcelain=v2 -z --branch</c>.</summary>
        private static (IReadOnlyList<string> Paths, string? Head) ParseStatus(string status)
        {
            var paths = new List<string>();
            string? head = null;
            foreach (var entry in WorkspaceRepository.Split(status))
            {
                switch (entry[0])
                {
                    case '#' when entry.StartsWith("# branch.oid ", StringComparison.Ordinal):
                        head = entry["# branch.oid ".Length..];
                        break;
                    case '1':
                        paths.Add(entry.Split(' ', 9)[8]);
                        break;
                    case 'u':
                        paths.Add(entry.Split(' ', 11)[10]);
                        break;
                    case '?':
                        paths.Add(entry[2..]);
                        break;
                }
            }

            return (paths, head);
        }

        /// <summary>(status letter, path) pairs from <c>git diff --name-status -z</c>, in git's order.</summary>
        private static IReadOnlyList<(string Status, string Path)> Entries(string nameStatus)
        {
            var fields = WorkspaceRepository.Split(nameStatus);
            var entries = new List<(string, string)>(fields.Count / 2);
            for (var i = 0; i + 1 < fields.Count; i += 2)
            {
                entries.Add((fields[i], fields[i + 1]));
            }

            return entries;
        }

        private FileChanges FilesOf(IReadOnlyList<(string Status, string Path)> entries)
        {
            var created = new List<string>();
            var modified = new List<string>();
            var deleted = new List<string>();
            foreach (var (status, path) in entries.Where(e => !isolation.IsExcluded(e.Path)))
            {
                (status switch { "A" => created, "D" => deleted, _ => modified }).Add(path);
            }

            return new FileChanges(created, modified, deleted);
        }

        /// <summary>
        /// The attempt's change per file, for people to read: one <c>git diff</c> of its commit against the base, read up
        /// to the size limit and split at each file's header. git writes the files in the order of <paramref name="entries"/>
        /// (the same diff's name-status), which names them unambiguously; a patch's own lines all start with ' ', '+', '-',
        /// '@' or '\', so a line starting with <c>diff --git </c> is always a header.
        /// </summary>
        private async Task<DomainDiff> DiffAsync(Git git, IReadOnlyList<(string Status, string Path)> entries, string head, CancellationToken cancellationToken)
        {
            var (text, cut) = await git.CheckCappedAsync(["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", baseCommit, head],
                DiffRecord.MaxPatchChars, cancellationToken).ConfigureAwait(false);
            var sections = Sections(text);
            var files = new List<FileDiff>(entries.Count);
            for (var i = 0; i < entries.Count; i++)
            {
                var (status, path) = entries[i];
                var section = i < sections.Count ? sections[i] : null;
                var partial = cut && (section is null || i == sections.Count - 1);
                var binary = section is not null && !partial && BinaryChange().IsMatch(section);
                if (!isolation.IsExcluded(path))
                {
                    files.Add(new FileDiff
                    {
                        Path = path,
                        Status = status switch { "A" => "added", "D" => "deleted", _ => "modified" },
                        Binary = binary,
                        Patch = binary || section is null ? null : partial ? section + DiffRecord.TruncatedMarker : section,
                        Truncated = partial,
                    });
                }
            }

            return DiffRecord.Capped(new DomainDiff
            {
                Domain = isolation.Options.DomainType, Attempt = message.Attempt, BaseCommit = baseCommit, Commit = head, Branch = branch,
                Files = files, Truncated = cut,
            });
        }

        private static List<string> Sections(string diff)
        {
            var starts = new List<int>();
            for (var at = 0; at < diff.Length;)
            {
                if (string.CompareOrdinal(diff, at, "diff --git ", 0, 11) == 0)
                {
                    starts.Add(at);
                }

                var end = diff.IndexOf('\n', at);
                at = end < 0 ? diff.Length : end + 1;
            }

            return starts.Select((start, i) => diff[start..(i + 1 < starts.Count ? starts[i + 1] : diff.Length)]).ToList();
        }

        private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim() is { Length: > 0 } line ? line[..Math.Min(line.Length, 200)] : "Task";
    }

    /// <summary>git's line for a binary file's change (without <c>--binary</c> it writes no content for one).</summary>
    [GeneratedRegex(@"^Binary files .* differ$", RegexOptions.Multiline)]
    private static partial Regex BinaryChange();

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} runs in worktree {Directory} on branch {Branch} from {BaseCommit}")]
    private partial void LogWorktree(string taskId, string directory, string branch, string baseCommit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId}: merged {Branch} into {Target}")]
    private partial void LogMerged(string taskId, string branch, string target);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId}: {Branch} does not merge into {Target}; conflicting files: {Files}. {Error}")]
    private partial void LogConflict(string taskId, string branch, string target, string files, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Domain {Domain}: removed {Worktrees} leftover worktree(s) and {Branches} expired branch(es) {Names}")]
    private partial void LogSwept(string domain, int worktrees, int branches, string names);
}
