using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Aggregation;

/// <summary>The seed's aggregated result: status, domains used, files created and modified, and each subtask.</summary>
public static class ResultAggregator
{
    /// <summary>The parent's state from its subtasks' states.</summary>
    public static TaskState StateOf(IReadOnlyCollection<SubtaskView> subtasks, bool cancelRequested)
    {
        if (subtasks.Count == 0)
        {
            return TaskState.Pending;
        }

        if (subtasks.Any(s => !s.State.IsFinal()))
        {
            return subtasks.All(s => s.State == SubtaskState.Pending) ? TaskState.Pending : TaskState.InProgress;
        }

        var completed = subtasks.Count(s => s.State == SubtaskState.Completed);
        if (completed == subtasks.Count)
        {
            // Work that could not be merged is done but not in the workspace: the task is not whole.
            return subtasks.Any(s => ConflictsOf(s).Count > 0) ? TaskState.PartiallyCompleted : TaskState.Completed;
        }

        if (cancelRequested)
        {
            return TaskState.Cancelled;
        }

        return completed > 0 ? TaskState.PartiallyCompleted : TaskState.Failed;
    }

    /// <summary>A file list from a subtask's output (<c>files_created</c>, <c>files_modified</c> or <c>files_deleted</c>); empty when absent or malformed.</summary>
    public static IReadOnlyList<string> FilesOf(SubtaskView subtask, string field)
    {
        if (string.IsNullOrEmpty(subtask.OutputJson))
        {
            return [];
        }

        try
        {
            if (JsonNode.Parse(subtask.OutputJson) is JsonObject output && output[field] is JsonArray files)
            {
                return files.Where(f => f is JsonValue v && v.GetValueKind() == JsonValueKind.String).Select(f => f!.GetValue<string>()).ToArray();
            }
        }
        catch (JsonException)
        {
            // An output that is not JSON has no file lists; the raw text is still shown as the output.
        }

        return [];
    }

    /// <summary>A text field of a subtask's output (e.g. <c>merge</c>, <c>branch</c>, <c>merged_into</c>); null when absent.</summary>
    public static string? TextOf(SubtaskView subtask, string field)
    {
        if (string.IsNullOrEmpty(subtask.OutputJson))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(subtask.OutputJson) is JsonObject output && output[field] is JsonValue value && value.GetValueKind() == JsonValueKind.String
                ? value.GetValue<string>()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The files whose merge into the workspace conflicted (output <c>conflicts</c>); both versions are on the branches named in the output.</summary>
    public static IReadOnlyList<string> ConflictsOf(SubtaskView subtask) => FilesOf(subtask, "conflicts");

    /// <summary>The seed-shaped result object (snake_case), for <c>--json</c> and the HTTP API.</summary>
    public static JsonObject ToResultJson(TaskView task)
    {
        var completed = task.Subtasks.Where(s => s.State == SubtaskState.Completed).ToArray();
        return new JsonObject
        {
            ["task_id"] = task.TaskId,
            ["description"] = task.Description,
            ["status"] = task.State.ToWire(),
            ["priority"] = task.Priority.ToWire(),
            ["domains_used"] = new JsonArray(task.Subtasks.Select(s => (JsonNode?)s.Domain).ToArray()),
            ["files_created"] = Distinct(completed.SelectMany(s => FilesOf(s, "files_created"))),
            ["files_modified"] = Distinct(completed.SelectMany(s => FilesOf(s, "files_modified"))),
            ["files_deleted"] = Distinct(completed.SelectMany(s => FilesOf(s, "files_deleted"))),
            ["created_at"] = task.CreatedAt.ToString("O"),
            ["completed_at"] = task.CompletedAt?.ToString("O"),
            ["usage"] = UsageOf(task.Usage),
            ["subtasks"] = new JsonArray(task.Subtasks.Select(s => (JsonNode?)new JsonObject
            {
                ["task_id"] = s.TaskId,
                ["domain"] = s.Domain,
                ["status"] = s.State.ToWire(),
                ["error"] = s.Error,
                ["output"] = ParseOutput(s.OutputJson),
                ["attempts"] = s.Attempts,
                ["agent_id"] = s.AgentId,
                ["workers"] = new JsonArray(s.Workers.Select(w => (JsonNode?)w).ToArray()),
                ["conflicts"] = new JsonArray(ConflictsOf(s).Select(f => (JsonNode?)f).ToArray()),
                ["after"] = new JsonArray(s.After.Select(d => (JsonNode?)d).ToArray()),
                ["waiting_for"] = new JsonArray(s.WaitingFor.Select(d => (JsonNode?)d).ToArray()),
                ["usage"] = UsageOf(s.Usage),
            }).ToArray()),
        };
    }

    /// <summary>Tokens by kind, their total, and the cost in US dollars (null when unknown); null when nothing was reported.</summary>
    private static JsonObject? UsageOf(TokenUsage? usage)
    {
        if (usage is null)
        {
            return null;
        }

        var json = Protocol.UsageJson.ToJson(usage);
        json["total_tokens"] = usage.TotalTokens;
        return json;
    }

    private static JsonArray Distinct(IEnumerable<string> paths) =>
        new(paths.Distinct(StringComparer.Ordinal).Select(p => (JsonNode?)p).ToArray());

    private static JsonNode? ParseOutput(string? outputJson)
    {
        if (string.IsNullOrEmpty(outputJson))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(outputJson);
        }
        catch (JsonException)
        {
            return JsonValue.Create(outputJson);
        }
    }
}
