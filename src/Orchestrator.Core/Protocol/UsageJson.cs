using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;

namespace Orchestrator.Core.Protocol;

/// <summary>
/// An attempt's usage in its result's output (our extra <c>output.usage</c>: <c>input_tokens</c>, <c>output_tokens</c>,
/// <c>cache_creation_input_tokens</c>, <c>cache_read_input_tokens</c>, <c>cost_usd</c>), covered by the lease proof
/// with the rest of the output. Read defensively: the worker may be anyone holding the lease, so a field that is not
/// a number in range makes the whole usage unknown rather than a figure that skews the totals.
/// </summary>
public static class UsageJson
{
    public const long MaxTokens = 1_000_000_000_000;
    public const double MaxCostUsd = 1_000_000;

    public static JsonObject ToJson(TokenUsage usage) => new()
    {
        ["input_tokens"] = usage.InputTokens,
        ["output_tokens"] = usage.OutputTokens,
        ["cache_creation_input_tokens"] = usage.CacheCreationTokens,
        ["cache_read_input_tokens"] = usage.CacheReadTokens,
        ["cost_usd"] = usage.CostUsd,
    };

    /// <summary>A result's output as an object; null when it is none, not JSON, or not an object.</summary>
    public static JsonObject? ParseOutput(string? outputJson)
    {
        try
        {
            return string.IsNullOrEmpty(outputJson) ? null : JsonNode.Parse(outputJson) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The usage of a result's output, or null when it has none or it is malformed or out of range.</summary>
    public static TokenUsage? Read(JsonObject? output)
    {
        if (output?["usage"] is not JsonObject usage)
        {
            return null;
        }

        long? Tokens(string name) => usage[name] switch
        {
            null => 0,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var n) && n is >= 0 and <= MaxTokens => n,
            _ => null,
        };

        var cost = usage["cost_usd"] switch
        {
            null => (double?)null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d is >= 0 and <= MaxCostUsd => d,
            _ => double.NaN,
        };
        if (Tokens("input_tokens") is not { } input || Tokens("output_tokens") is not { } outputTokens
            || Tokens("cache_creation_input_tokens") is not { } cacheCreation || Tokens("cache_read_input_tokens") is not { } cacheRead
            || cost is double.NaN)
        {
            return null;
        }

        return new TokenUsage { InputTokens = input, OutputTokens = outputTokens, CacheCreationTokens = cacheCreation, CacheReadTokens = cacheRead, CostUsd = cost };
    }
}
