using System.Globalization;
using System.Text.Json;
using Orchestrator.Contracts;

namespace Orchestrator.Worker.Agents;

/// <summary>Prices of one model, in US dollars per million tokens.</summary>
public sealed class ModelPrice
{
    public double Input { get; set; }
    public double Output { get; set; }
    public double CacheWrite { get; set; }
    public double CacheRead { get; set; }

    public double CostOf(TokenUsage usage) =>
        (usage.InputTokens * Input + usage.OutputTokens * Output + usage.CacheCreationTokens * CacheWrite + usage.CacheReadTokens * CacheRead) / 1_000_000;
}

/// <summary>
/// Live cost estimates: the price of a model is its own entry, else the longest entry its name starts with (so
/// <c>claude-sonnet-4</c> prices <c>claude-sonnet-4-5-20250929</c>), else <c>default</c>; no entry means no estimate.
/// </summary>
public static class PriceTable
{
    public const string DefaultKey = "default";

    /// <summary>Anthropic's list prices for Claude Sonnet 4.x as of writing: an estimate to configure, not a bill.</summary>
    public static Dictionary<string, ModelPrice> Default() => new(StringComparer.OrdinalIgnoreCase)
    {
        [DefaultKey] = new() { Input = 3, Output = 15, CacheWrite = 3.75, CacheRead = 0.30 },
    };

    public static ModelPrice? For(IReadOnlyDictionary<string, ModelPrice> prices, string? model)
    {
        if (model is not null)
        {
            if (prices.TryGetValue(model, out var exact))
            {
                return exact;
            }

            var prefix = prices.Keys.Where(k => k != DefaultKey && model.StartsWith(k, StringComparison.OrdinalIgnoreCase)).MaxBy(k => k.Length);
            if (prefix is not null)
            {
                return prices[prefix];
            }
        }

        return prices.TryGetValue(DefaultKey, out var fallback) ? fallback : null;
    }

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow };

    /// <summary>A table as JSON (<c>{"default": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}</c>), for a worker's environment.</summary>
    public static string ToJson(IReadOnlyDictionary<string, ModelPrice> prices) => JsonSerializer.Serialize(prices, Json);

    /// <summary>Reads a table written by <see cref="ToJson"/>; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static Dictionary<string, ModelPrice> Parse(string json)
    {
        Dictionary<string, ModelPrice>? prices;
        try
        {
            prices = JsonSerializer.Deserialize<Dictionary<string, ModelPrice>>(json, Json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"is not a price table ({e.Message}); give e.g. {{\"default\": {{\"input\": 3, \"output\": 15, \"cache_write\": 3.75, \"cache_read\": 0.3}}}}");
        }

        var table = new Dictionary<string, ModelPrice>(prices ?? [], StringComparer.OrdinalIgnoreCase);
        return Validate(table) is { } problem ? throw new FormatException(problem) : table;
    }

    /// <summary>Null when valid, else what is wrong with an entry.</summary>
    public static string? Validate(IReadOnlyDictionary<string, ModelPrice> prices) =>
        prices.Where(p => new[] { p.Value.Input, p.Value.Output, p.Value.CacheWrite, p.Value.CacheRead }.Any(v => !double.IsFinite(v) || v < 0))
            .Select(p => $"the price of '{p.Key}' has a negative or non-finite value (US dollars per million tokens)")
            .FirstOrDefault();
}

/// <summary>
/// Adds up one run's usage from its events as they arrive: repeated usage of one model call counts once, the
/// agent's final totals replace the sum, and its reported cost replaces the estimate. Thread-safe.
/// </summary>
public sealed class UsageMeter(IReadOnlyDictionary<string, ModelPrice> prices)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (TokenUsage Usage, double? Cost)> _byCall = new(StringComparer.Ordinal);
    private TokenUsage _sum = new();
    private double? _estimate;
    private TokenUsage? _total;
    private double? _reportedCost;
    private string? _model;

    public bool HasUsage { get; private set; }

    public void Add(AgentEvent e)
    {
        lock (_lock)
        {
            _model = e.Model ?? _model;
            if (e.IsTotal)
            {
                _total = e.Usage ?? _total;
                _reportedCost = e.CostUsd ?? _reportedCost;
                HasUsage |= e.Usage is not null || e.CostUsd is not null;
                return;
            }

            if (e.Usage is not { } usage)
            {
                return;
            }

            HasUsage = true;
            var cost = PriceTable.For(prices, _model)?.CostOf(usage);
            if (e.MessageId is { } id && _byCall.Remove(id, out var earlier))
            {
                _sum = Minus(_sum, earlier.Usage);
                _estimate -= earlier.Cost;
            }

            if (e.MessageId is { } key)
            {
                _byCall[key] = (usage, cost);
            }

            _sum = _sum.Plus(usage);
            _estimate = cost is null ? _estimate : (_estimate ?? 0) + cost;
        }
    }

    /// <summary>The run's usage so far: the agent's totals when it gave them, with its reported cost, else the sum and the estimate.</summary>
    public TokenUsage Current
    {
        get
        {
            lock (_lock)
            {
                var tokens = _total ?? _sum;
                return tokens with { CostUsd = _reportedCost ?? (_total is null ? _estimate : PriceTable.For(prices, _model)?.CostOf(_total)) };
            }
        }
    }

    /// <summary>Why the run is over its budget, or null while it is not.</summary>
    public string? Exceeded(double? budgetUsd, long? budgetTokens)
    {
        var usage = Current;
        if (budgetTokens is { } tokens && usage.TotalTokens > tokens)
        {
            return $"budget exceeded: {usage.TotalTokens} tokens used, over the budget of {tokens} tokens; the agent's process group was killed";
        }

        if (budgetUsd is { } usd && usage.CostUsd > usd)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"budget exceeded: {usage.CostUsd:0.####} USD ({usage.TotalTokens} tokens) spent, over the budget of {usd:0.####} USD; the agent's process group was killed");
        }

        return null;
    }

    private static TokenUsage Minus(TokenUsage a, TokenUsage b) => new()
    {
        InputTokens = a.InputTokens - b.InputTokens,
        OutputTokens = a.OutputTokens - b.OutputTokens,
        CacheCreationTokens = a.CacheCreationTokens - b.CacheCreationTokens,
        CacheReadTokens = a.CacheReadTokens - b.CacheReadTokens,
    };
}
