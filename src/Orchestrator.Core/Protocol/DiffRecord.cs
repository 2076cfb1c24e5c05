using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Protocol;

/// <summary>
/// An attempt's diff as JSON — the result hash's extra <c>diff</c> field, the HTTP API's and <c>orchestrator diff
/// --json</c>'s shape: <c>{"domain", "attempt", "base_commit", "commit", "branch", "merge", "truncated", "files":
/// [{"path", "status", "binary", "conflict", "truncated", "patch"}]}</c>. The same limits hold where it is made (the
/// worker) and where it is kept (the silo), so an agent's change can never grow a task's records without bound.
/// </summary>
public static class DiffRecord
{
    /// <summary>The most patch text kept per domain; beyond it files keep their name and status but lose their patch.</summary>
    public const int MaxPatchChars = 256 * 1024;

    /// <summary>The most files listed per domain.</summary>
    public const int MaxFiles = 1000;

    /// <summary>The largest <c>diff</c> field read from the wire; a larger one is dropped, its result still counts.</summary>
    public const int MaxJsonBytes = 1024 * 1024;

    private const int MaxPathChars = 4096;

    /// <summary>What is shown where a patch was cut.</summary>
    public const string TruncatedMarker = "\n… diff truncated (the limit is 256 KiB per domain)\n";

    /// <summary>The diff within the limits: patches cut where their total passes <see cref="MaxPatchChars"/>, files past <see cref="MaxFiles"/> left out.</summary>
    public static DomainDiff Capped(DomainDiff diff)
    {
        var budget = MaxPatchChars;
        var truncated = diff.Truncated || diff.Files.Count > MaxFiles;
        var files = new List<FileDiff>(Math.Min(diff.Files.Count, MaxFiles));
        foreach (var file in diff.Files.Take(MaxFiles))
        {
            var kept = file with { Path = file.Path.Length <= MaxPathChars ? file.Path : file.Path[..MaxPathChars] };
            if (file.Patch is { } patch)
            {
                if (patch.Length > budget)
                {
                    kept = kept with { Patch = budget > 0 ? patch[..budget] + TruncatedMarker : null, Truncated = true };
                    truncated = true;
                }

                budget = Math.Max(0, budget - patch.Length);
            }

            files.Add(kept);
        }

        return diff with { Files = files, Truncated = truncated };
    }

    /// <summary>A task's diffs: <c>{"task_id", "domains": [...]}</c>.</summary>
    public static JsonObject ToJson(string taskId, IEnumerable<DomainDiff> diffs) => new()
    {
        ["task_id"] = taskId,
        ["domains"] = new JsonArray(diffs.Select(d => (JsonNode?)ToJson(d)).ToArray()),
    };

    public static JsonObject ToJson(DomainDiff diff) => new()
    {
        ["domain"] = diff.Domain,
        ["attempt"] = diff.Attempt,
        ["base_commit"] = diff.BaseCommit,
        ["commit"] = diff.Commit,
        ["branch"] = diff.Branch,
        ["merge"] = diff.Merge,
        ["truncated"] = diff.Truncated,
        ["files"] = new JsonArray(diff.Files.Select(f => (JsonNode?)new JsonObject
        {
            ["path"] = f.Path,
            ["status"] = f.Status,
            ["binary"] = f.Binary,
            ["conflict"] = f.Conflict,
            ["truncated"] = f.Truncated,
            ["patch"] = f.Patch,
        }).ToArray()),
    };

    /// <summary>Reads a diff from the wire, within the limits. Throws <see cref="WireFormatException"/> when it is not one.</summary>
    public static DomainDiff Parse(string json)
    {
        try
        {
            var root = JsonNode.Parse(json) as JsonObject ?? throw new WireFormatException("the diff is not a JSON object");
            var files = root["files"] as JsonArray ?? throw new WireFormatException("the diff has no 'files' array");
            return Capped(new DomainDiff
            {
                Domain = Text(root, "domain") ?? "",
                Attempt = root["attempt"] is JsonValue attempt && attempt.TryGetValue<int>(out var n) ? n : 0,
                BaseCommit = Text(root, "base_commit"),
                Commit = Text(root, "commit"),
                Branch = Text(root, "branch"),
                Merge = Text(root, "merge"),
                Truncated = Flag(root, "truncated"),
                Files = files.Take(MaxFiles + 1).Select(node => node as JsonObject ?? throw new WireFormatException("a file of the diff is not an object"))
                    .Select(file => new FileDiff
                    {
                        Path = Text(file, "path") ?? throw new WireFormatException("a file of the diff has no path"),
                        Status = Text(file, "status") switch { "added" => "added", "deleted" => "deleted", _ => "modified" },
                        Binary = Flag(file, "binary"),
                        Conflict = Flag(file, "conflict"),
                        Truncated = Flag(file, "truncated"),
                        Patch = Text(file, "patch"),
                    })
                    .ToArray(),
            });
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new WireFormatException($"the diff is not valid: {e.Message}");
        }
    }

    private static string? Text(JsonObject json, string name) =>
        json[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static bool Flag(JsonObject json, string name) =>
        json[name] is JsonValue value && value.GetValueKind() == JsonValueKind.True;
}
