using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;

namespace Orchestrator.Core.Protocol;

/// <summary>
/// What a subtask that starts after others is told of their results: an extra key of its message's <c>context</c>
/// (<see cref="ContextKey"/>), so the reference's runners, which show the context as it is, accept it too.
/// </summary>
public static class DependencyResults
{
    public const string ContextKey = "dependency_results";
    public const int MaxTailLines = 40;
    public const int MaxTailChars = 4 * 1024;
    /// <summary>Per file list: a dependency that touched thousands of files does not fill the next prompt with them.</summary>
    public const int MaxFiles = 100;

    /// <summary><paramref name="contextJson"/> (a JSON object or null) with the results of <paramref name="dependencies"/> under <see cref="ContextKey"/>.</summary>
    public static string WithResults(string? contextJson, IEnumerable<SubtaskView> dependencies)
    {
        var context = contextJson is null ? new JsonObject() : JsonNode.Parse(contextJson)!.AsObject();
        context[ContextKey] = new JsonObject(dependencies.Select(d => KeyValuePair.Create(d.Domain, (JsonNode?)Of(d))));
        return context.ToJsonString();
    }

    /// <summary>
    /// Where a dependent's worktree starts: the commit of its one dependency that recorded one (its work, merged or not);
    /// with several, null — the workspace's HEAD when it is taken, which holds their merged work; with none, the task's own.
    /// </summary>
    public static string? BaseCommitAfter(IEnumerable<SubtaskView> dependencies, string? taskBaseCommit)
    {
        var commits = dependencies.Select(d => ResultAggregator.TextOf(d, "commit")).OfType<string>().Distinct().ToArray();
        return commits.Length switch
        {
            0 => taskBaseCommit,
            1 => commits[0],
            _ => null,
        };
    }

    private static JsonObject Of(SubtaskView dependency)
    {
        var result = new JsonObject { ["status"] = dependency.State.ToWire() };
        foreach (var field in new[] { "files_created", "files_modified", "files_deleted" })
        {
            var files = ResultAggregator.FilesOf(dependency, field);
            result[field] = new JsonArray(files.Take(MaxFiles).Select(f => (JsonNode?)f).ToArray());
            if (files.Count > MaxFiles)
            {
                result[field + "_omitted"] = files.Count - MaxFiles;
            }
        }

        foreach (var field in new[] { "commit", "branch", "merge" })
        {
            if (ResultAggregator.TextOf(dependency, field) is { } text)
            {
                result[field] = text;
            }
        }

        result["output_tail"] = Tail(ResultAggregator.TextOf(dependency, "stdout"));
        return result;
    }

    /// <summary>The last <see cref="MaxTailLines"/> lines, and of those at most the last <see cref="MaxTailChars"/> characters.</summary>
    public static string Tail(string? output)
    {
        var lines = (output ?? "").TrimEnd('\n').Split('\n');
        var tail = string.Join('\n', lines[Math.Max(0, lines.Length - MaxTailLines)..]);
        return tail.Length <= MaxTailChars ? tail : tail[^MaxTailChars..];
    }
}
