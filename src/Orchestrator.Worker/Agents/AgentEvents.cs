using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Worker.Agents;

/// <summary>How a preset's output tells its token usage. <see cref="None"/>: plain text, only wall time is budgeted.</summary>
public enum UsageFormat
{
    None,

    /// <summary>Claude Code's <c>--output-format stream-json --verbose</c>: one JSON event per line.</summary>
    ClaudeStreamJson,

    /// <summary>Codex's <c>codex exec --json</c>: one JSON event per line, usage on <c>turn.completed</c>.</summary>
    CodexJson,
}

public static class UsageFormats
{
    public static bool TryParse(string? text, out UsageFormat format)
    {
        (var known, format) = (text ?? "").Trim().ToLowerInvariant() switch
        {
            "" or "none" => (true, UsageFormat.None),
            "claude-stream-json" => (true, UsageFormat.ClaudeStreamJson),
            "codex-json" => (true, UsageFormat.CodexJson),
            _ => (false, UsageFormat.None),
        };
        return known;
    }

    public const string Names = "none, claude-stream-json or codex-json";

    /// <summary>The reader of a format's events; null for plain text.</summary>
    public static IAgentEventReader? ReaderFor(UsageFormat format) => format switch
    {
        UsageFormat.ClaudeStreamJson => new ClaudeStreamJsonReader(),
        UsageFormat.CodexJson => new CodexJsonReader(),
        _ => null,
    };
}

/// <summary>
/// What one output line of a streaming agent said: readable lines for the task's log, and usage. <see cref="MessageId"/>
/// names the model call a <see cref="Usage"/> belongs to, when the agent repeats one call's usage on several events;
/// <see cref="IsTotal"/> marks the agent's own final totals (and <see cref="CostUsd"/> its reported cost).
/// </summary>
public sealed record AgentEvent(IReadOnlyList<string> Text)
{
    public TokenUsage? Usage { get; init; }
    public string? MessageId { get; init; }
    public string? Model { get; init; }
    public bool IsTotal { get; init; }
    public double? CostUsd { get; init; }
}

/// <summary>Reads one line of an agent's structured output; a line that is not an event of the format comes back as text.</summary>
public interface IAgentEventReader
{
    AgentEvent Read(string line);
}

/// <summary>
/// Claude Code's stream-json events: <c>system</c> (init, with the model), <c>assistant</c> (message.content blocks of
/// text and tool_use, message.usage with input, output and cache tokens; one API message may come as several events
/// that repeat its id and usage), <c>user</c> (tool results), and the final <c>result</c> with <c>total_cost_usd</c>
/// and the run's <c>usage</c>.
/// </summary>
public sealed class ClaudeStreamJsonReader : IAgentEventReader
{
    public AgentEvent Read(string line)
    {
        if (AgentEventParsing.Parse(line) is not { } root)
        {
            return new AgentEvent([line]);
        }

        switch (AgentEventParsing.Text(root["type"]))
        {
            case "system":
                return new AgentEvent(AgentEventParsing.Text(root["subtype"]) == "init"
                    ? [$"[agent] session started (model {AgentEventParsing.Text(root["model"]) ?? "unknown"})"]
                    : []);
            case "assistant" when root["message"] is JsonObject message:
                return new AgentEvent(ContentLines(message["content"]).ToArray())
                {
                    Usage = ReadUsage(message["usage"]),
                    MessageId = AgentEventParsing.Text(message["id"]),
                    Model = AgentEventParsing.Text(message["model"]),
                };
            case "user" when root["message"] is JsonObject message:
                return new AgentEvent(ToolErrors(message["content"]).ToArray());
            case "result":
                // A negative cost would only ever lower the sum under its budget: not a figure to trust.
                var cost = AgentEventParsing.Number(root["total_cost_usd"]) is { } reported and >= 0 ? reported : (double?)null;
                var summary = $"[agent] finished: {AgentEventParsing.Text(root["subtype"]) ?? "done"}"
                    + (AgentEventParsing.Number(root["num_turns"]) is { } turns ? $", {turns} turns" : "")
                    + (cost is { } c ? $", {c.ToString("0.####", CultureInfo.InvariantCulture)} USD" : "");
                return new AgentEvent([summary]) { Usage = ReadUsage(root["usage"]), IsTotal = true, CostUsd = cost };
            default:
                return new AgentEvent([]);
        }
    }

    private static IEnumerable<string> ContentLines(JsonNode? content)
    {
        if (content is JsonValue single && AgentEventParsing.Text(single) is { } plain)
        {
            foreach (var text in AgentEventParsing.Lines(plain))
            {
                yield return text;
            }

            yield break;
        }

        foreach (var block in (content as JsonArray ?? []).OfType<JsonObject>())
        {
            switch (AgentEventParsing.Text(block["type"]))
            {
                case "text":
                    foreach (var text in AgentEventParsing.Lines(AgentEventParsing.Text(block["text"]) ?? ""))
                    {
                        yield return text;
                    }

                    break;
                case "tool_use":
                    yield return $"[tool] {AgentEventParsing.Text(block["name"]) ?? "tool"} {AgentEventParsing.Summary(block["input"])}".TrimEnd();
                    break;
            }
        }
    }

    private static IEnumerable<string> ToolErrors(JsonNode? content) =>
        (content as JsonArray ?? []).OfType<JsonObject>()
            .Where(block => AgentEventParsing.Text(block["type"]) == "tool_result" && block["is_error"] is JsonValue flag && flag.TryGetValue<bool>(out var error) && error)
            .Select(block => $"[tool error] {AgentEventParsing.Clip(AgentEventParsing.Lines(AgentEventParsing.Text(block["content"]) ?? block["content"]?.ToJsonString() ?? "").FirstOrDefault() ?? "")}");

    private static TokenUsage? ReadUsage(JsonNode? node) => node is JsonObject usage
        ? new TokenUsage
        {
            InputTokens = AgentEventParsing.Count(usage["input_tokens"]),
            OutputTokens = AgentEventParsing.Count(usage["output_tokens"]),
            CacheCreationTokens = AgentEventParsing.Count(usage["cache_creation_input_tokens"]),
            CacheReadTokens = AgentEventParsing.Count(usage["cache_read_input_tokens"]),
        }
        : null;
}

/// <summary>
/// Codex's <c>exec --json</c> events: <c>item.completed</c> (an <c>agent_message</c>'s text, a <c>command_execution</c>'s
/// command, a <c>file_change</c>), <c>turn.completed</c> with <c>usage</c> (input_tokens, of which cached_input_tokens
/// were read from the cache, and output_tokens), <c>turn.failed</c> and <c>error</c>. Codex reports no cost.
/// </summary>
public sealed class CodexJsonReader : IAgentEventReader
{
    public AgentEvent Read(string line)
    {
        if (AgentEventParsing.Parse(line) is not { } root)
        {
            return new AgentEvent([line]);
        }

        switch (AgentEventParsing.Text(root["type"]))
        {
            case "item.completed" when root["item"] is JsonObject item:
                return new AgentEvent(ItemLines(item).ToArray());
            case "turn.completed" when root["usage"] is JsonObject usage:
                var input = AgentEventParsing.Count(usage["input_tokens"]);
                var cached = Math.Min(input, AgentEventParsing.Count(usage["cached_input_tokens"]));
                return new AgentEvent([])
                {
                    Usage = new TokenUsage { InputTokens = input - cached, CacheReadTokens = cached, OutputTokens = AgentEventParsing.Count(usage["output_tokens"]) },
                };
            case "turn.failed":
                return new AgentEvent([$"[agent] turn failed: {AgentEventParsing.Text(root["error"]?["message"]) ?? "no reason given"}"]);
            case "error":
                return new AgentEvent([$"[agent] error: {AgentEventParsing.Text(root["message"]) ?? "no message"}"]);
            default:
                return new AgentEvent([]);
        }
    }

    private static IEnumerable<string> ItemLines(JsonObject item)
    {
        switch (AgentEventParsing.Text(item["type"]))
        {
            case "agent_message":
                foreach (var text in AgentEventParsing.Lines(AgentEventParsing.Text(item["text"]) ?? ""))
                {
                    yield return text;
                }

                break;
            case "command_execution":
                yield return $"[tool] $ {AgentEventParsing.Clip(AgentEventParsing.Text(item["command"]) ?? "")}"
                    + (AgentEventParsing.Number(item["exit_code"]) is { } exit ? $" (exit {exit})" : "");
                break;
            case "file_change":
                var paths = (item["changes"] as JsonArray ?? []).OfType<JsonObject>().Select(c => AgentEventParsing.Text(c["path"])).OfType<string>();
                yield return $"[tool] changed {AgentEventParsing.Clip(string.Join(", ", paths))}";
                break;
        }
    }
}

internal static class AgentEventParsing
{
    private const int SummaryChars = 200;

    /// <summary>The line as a JSON object, or null when it is anything else (then it is shown as it is).</summary>
    public static JsonObject? Parse(string line)
    {
        if (!line.StartsWith('{'))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(line) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string? Text(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    public static double? Number(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : null;

    /// <summary>A token count: a whole number of 0 or more; anything else counts as 0.</summary>
    public static long Count(JsonNode? node) =>
        Number(node) is { } d && d > 0 ? (long)Math.Min(Math.Floor(d), 1e15) : 0;

    public static IEnumerable<string> Lines(string text) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0);

    public static string Clip(string text) => text.Length <= SummaryChars ? text : text[..SummaryChars] + "…";

    /// <summary>A tool call's input in one short line: the usual argument when there is one, else the JSON clipped.</summary>
    public static string Summary(JsonNode? input)
    {
        if (input is JsonObject fields)
        {
            foreach (var name in new[] { "command", "file_path", "path", "pattern", "url", "description" })
            {
                if (Text(fields[name]) is { } value)
                {
                    return Clip(value.ReplaceLineEndings(" "));
                }
            }
        }

        return input is null ? "" : Clip(input.ToJsonString());
    }
}
