namespace Orchestrator.WorkerHost;

/// <summary>
/// The reference's start-up step: the domain template (<c>CLAUDE.md</c> and <c>.claude/</c>) from the agent-config
/// folder into the workspace, where the agent CLI reads it. A file in the workspace that is newer than the
/// template's is the user's edit and is kept; older or missing ones are written.
/// </summary>
public static class DomainTemplate
{
    /// <returns>The workspace-relative paths written.</returns>
    public static IReadOnlyList<string> CopyInto(string agentConfig, string workspace)
    {
        var written = new List<string>();
        if (!Directory.Exists(agentConfig))
        {
            return written;
        }

        var sources = new List<string>();
        if (File.Exists(Path.Combine(agentConfig, "CLAUDE.md")))
        {
            sources.Add(Path.Combine(agentConfig, "CLAUDE.md"));
        }

        var claudeDir = Path.Combine(agentConfig, ".claude");
        if (Directory.Exists(claudeDir))
        {
            sources.AddRange(Directory.EnumerateFiles(claudeDir, "*", SearchOption.AllDirectories));
        }

        foreach (var source in sources)
        {
            var relative = Path.GetRelativePath(agentConfig, source);
            var target = Path.Combine(workspace, relative);
            if (File.Exists(target) && File.GetLastWriteTimeUtc(target) >= File.GetLastWriteTimeUtc(source))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
            written.Add(relative);
        }

        return written;
    }
}
