using System.Text.RegularExpressions;

namespace Orchestrator.Worker;

/// <summary>
/// Sizes and write times of every file under a workspace, so that two snapshots tell which files a run created,
/// modified and deleted. Paths are relative with '/' separators; any path segment matching an ignore pattern
/// (<c>.git</c> always, plus globs such as <c>node_modules</c> or <c>*.tmp</c>) is skipped.
/// </summary>
public sealed class WorkspaceSnapshot
{
    private readonly Dictionary<string, (long Length, long WriteTicks)> _files;

    private WorkspaceSnapshot(Dictionary<string, (long, long)> files) => _files = files;

    public static WorkspaceSnapshot Capture(string root, IReadOnlyCollection<string> ignorePatterns)
    {
        var ignore = ignorePatterns.Append(".git").Distinct().Select(ToRegex).ToArray();
        var files = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        if (!Directory.Exists(root))
        {
            return new WorkspaceSnapshot(files);
        }

        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var directory = pending.Pop();
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(directory).EnumerateFileSystemInfos();
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                continue; // unreadable or vanished while walking: nothing to compare
            }

            foreach (var entry in entries)
            {
                if (ignore.Any(pattern => pattern.IsMatch(entry.Name)))
                {
                    continue;
                }

                if (entry is DirectoryInfo { LinkTarget: null } sub)
                {
                    pending.Push(sub.FullName);
                }
                else if (entry is FileInfo file)
                {
                    var relative = Path.GetRelativePath(root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
                    files[relative] = (file.Length, file.LastWriteTimeUtc.Ticks);
                }
            }
        }

        return new WorkspaceSnapshot(files);
    }

    public FileChanges ChangesSince(WorkspaceSnapshot before)
    {
        var created = _files.Keys.Where(p => !before._files.ContainsKey(p)).Order(StringComparer.Ordinal).ToArray();
        var modified = _files.Where(f => before._files.TryGetValue(f.Key, out var old) && old != f.Value)
            .Select(f => f.Key).Order(StringComparer.Ordinal).ToArray();
        var deleted = before._files.Keys.Where(p => !_files.ContainsKey(p)).Order(StringComparer.Ordinal).ToArray();
        return new FileChanges(created, modified, deleted);
    }

    private static Regex ToRegex(string glob) =>
        new("^" + Regex.Escape(glob).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
}

public sealed record FileChanges(IReadOnlyList<string> Created, IReadOnlyList<string> Modified, IReadOnlyList<string> Deleted)
{
    public static FileChanges None { get; } = new([], [], []);
}
