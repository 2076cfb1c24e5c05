using System.Text.RegularExpressions;

namespace Orchestrator.Worker.Isolation;

/// <summary>
/// Ids that end up in paths, branch names, file names and agent environments. A task id from the wire is only
/// used after this check, so that an id such as <c>../..</c> can never steer a path.
/// </summary>
public static partial class SafeNames
{
    /// <summary>Task ids: letters, digits, <c>-</c> and <c>_</c> (uuids, as the reference makes them), at most 128.</summary>
    public static bool IsTaskId(string? id) => id is not null && TaskIdPattern().IsMatch(id);

    /// <summary>Domain names and agent ids: lowercase letters, digits, <c>-</c> and <c>_</c>.</summary>
    public static bool IsDomain(string? name) => name is not null && DomainPattern().IsMatch(name);

    /// <summary>A git commit id in hex (sha-1 or sha-256).</summary>
    public static bool IsCommitId(string? id) => id is not null && CommitPattern().IsMatch(id);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")]
    private static partial Regex TaskIdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,99}$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex("^([0-9a-f]{40}|[0-9a-f]{64})$")]
    private static partial Regex CommitPattern();
}
