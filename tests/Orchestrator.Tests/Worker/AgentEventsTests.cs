using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Worker.Agents;

namespace Orchestrator.Tests.Worker;

/// <summary>
/// Streaming agents' events as their CLIs write them: Claude Code's <c>--output-format stream-json --verbose</c> and
/// Codex's <c>exec --json</c>, read into log lines and usage.
/// </summary>
public sealed class AgentEventsTests
{
    /// <summary>A Claude Code run: init, one API message split over a text and a tool_use event (same id, same usage), a tool result, a second message, the result.</summary>
    public static readonly string[] ClaudeRun =
    [
        """{"type":"system","subtype":"init","cwd":"/workspace","session_id":"5f1c","tools":["Bash","Edit","Write"],"mcp_servers":[],"model":"claude-sonnet-4-5-20250929","permissionMode":"bypassPermissions","apiKeySource":"ANTHROPIC_API_KEY"}""",
        """{"type":"assistant","message":{"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"I'll create the endpoint.\nThen run the tests."}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":4,"cache_creation_input_tokens":1200,"cache_read_input_tokens":13000,"output_tokens":30,"service_tier":"standard"}},"parent_tool_use_id":null,"session_id":"5f1c"}""",
        """{"type":"assistant","message":{"id":"msg_01A","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"npm test","description":"Run the tests"}}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":4,"cache_creation_input_tokens":1200,"cache_read_input_tokens":13000,"output_tokens":30,"service_tier":"standard"}},"parent_tool_use_id":null,"session_id":"5f1c"}""",
        """{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_01","type":"tool_result","content":"npm ERR! missing script: test","is_error":true}]},"parent_tool_use_id":null,"session_id":"5f1c"}""",
        """{"type":"assistant","message":{"id":"msg_01B","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Done."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":14200,"output_tokens":12,"service_tier":"standard"}},"parent_tool_use_id":null,"session_id":"5f1c"}""",
        """{"type":"result","subtype":"success","is_error":false,"duration_ms":5123,"duration_api_ms":4010,"num_turns":2,"result":"Done.","session_id":"5f1c","total_cost_usd":0.0187,"usage":{"input_tokens":10,"cache_creation_input_tokens":1200,"cache_read_input_tokens":27200,"output_tokens":42,"server_tool_use":{"web_search_requests":0},"service_tier":"standard"}}""",
    ];

    /// <summary>A shell script that prints <see cref="ClaudeRun"/>, as a fake agent.</summary>
    public static string ClaudeRunScript() =>
        string.Join("\n", ClaudeRun.Select(line => $"echo '{line.Replace("'", "'\\''", StringComparison.Ordinal)}'"));

    private static readonly Dictionary<string, ModelPrice> Prices = new(StringComparer.OrdinalIgnoreCase)
    {
        ["default"] = new() { Input = 1, Output = 1, CacheWrite = 1, CacheRead = 1 },
        ["claude-sonnet-4"] = new() { Input = 3, Output = 15, CacheWrite = 3.75, CacheRead = 0.30 },
    };

    private static List<AgentEvent> Read(IAgentEventReader reader, IEnumerable<string> lines) => lines.Select(reader.Read).ToList();

    [Fact]
    public void Claude_stream_json_becomes_readable_lines_with_tool_calls_summarised()
    {
        var text = Read(new ClaudeStreamJsonReader(), ClaudeRun).SelectMany(e => e.Text).ToArray();

        Assert.Equal(
        [
            "[agent] session started (model claude-sonnet-4-5-20250929)",
            "I'll create the endpoint.",
            "Then run the tests.",
            "[tool] Bash npm test",
            "[tool error] npm ERR! missing script: test",
            "Done.",
            "[agent] finished: success, 2 turns, 0.0187 USD",
        ], text);
    }

    [Fact]
    public void A_line_that_is_not_an_event_is_kept_as_it_is()
    {
        Assert.Equal(["plain text from a wrapper script"], new ClaudeStreamJsonReader().Read("plain text from a wrapper script").Text);
        Assert.Equal(["{not json"], new CodexJsonReader().Read("{not json").Text);
    }

    [Fact]
    public void One_API_message_repeated_over_several_events_counts_once()
    {
        var meter = new UsageMeter(Prices);
        foreach (var e in Read(new ClaudeStreamJsonReader(), ClaudeRun.Take(5)))
        {
            meter.Add(e);
        }

        var usage = meter.Current;
        Assert.Equal(new TokenUsage { InputTokens = 10, OutputTokens = 42, CacheCreationTokens = 1200, CacheReadTokens = 27200 }, usage with { CostUsd = null });
        // Priced by the longest prefix of the model's name, per million tokens.
        Assert.Equal((10 * 3 + 42 * 15 + 1200 * 3.75 + 27200 * 0.30) / 1e6, usage.CostUsd!.Value, 9);
    }

    [Fact]
    public void The_reported_totals_and_cost_replace_the_running_estimate()
    {
        var meter = new UsageMeter(Prices);
        foreach (var e in Read(new ClaudeStreamJsonReader(), ClaudeRun))
        {
            meter.Add(e);
        }

        Assert.Equal(0.0187, meter.Current.CostUsd);
        Assert.Equal(10 + 42 + 1200 + 27200, meter.Current.TotalTokens);
    }

    [Fact]
    public void Codex_json_events_give_the_agent_message_commands_and_usage_with_cached_input_apart()
    {
        string[] run =
        [
            """{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}""",
            """{"type":"turn.started"}""",
            """{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Looking at the repository**"}}""",
            """{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"src\n","exit_code":0,"status":"completed"}}""",
            """{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"The endpoint is in place."}}""",
            """{"type":"turn.completed","usage":{"input_tokens":26549,"cached_input_tokens":22272,"output_tokens":1590}}""",
        ];
        var events = Read(new CodexJsonReader(), run);
        var meter = new UsageMeter(new Dictionary<string, ModelPrice>());
        events.ForEach(meter.Add);

        Assert.Equal(["[tool] $ bash -lc ls (exit 0)", "The endpoint is in place."], events.SelectMany(e => e.Text));
        Assert.Equal(new TokenUsage { InputTokens = 26549 - 22272, CacheReadTokens = 22272, OutputTokens = 1590 }, meter.Current);
    }

    [Fact]
    public void The_budget_is_exceeded_by_tokens_or_by_cost_and_the_reason_says_how_much()
    {
        var meter = new UsageMeter(Prices);
        meter.Add(new AgentEvent([]) { Usage = new TokenUsage { InputTokens = 1000, OutputTokens = 1000 }, Model = "claude-sonnet-4-5" });

        Assert.Null(meter.Exceeded(budgetUsd: 1, budgetTokens: 2000));
        Assert.StartsWith("budget exceeded: 2000 tokens used, over the budget of 1999 tokens", meter.Exceeded(null, 1999));
        Assert.StartsWith("budget exceeded: 0.018 USD (2000 tokens) spent, over the budget of 0.01 USD", meter.Exceeded(0.01, null));
    }

    [Fact]
    public void The_presets_declare_how_their_usage_is_read()
    {
        Assert.Equal(UsageFormat.ClaudeStreamJson, new AgentCommandOptions().ResolvedUsage);
        Assert.Contains("--output-format stream-json --verbose", new AgentCommandOptions().ResolvedCommand);
        Assert.Equal(UsageFormat.CodexJson, new AgentCommandOptions { Command = "codex" }.ResolvedUsage);
        Assert.Equal(UsageFormat.None, new AgentCommandOptions { Command = "aider" }.ResolvedUsage);
        Assert.Equal(UsageFormat.None, new AgentCommandOptions { Command = "./my-agent.sh" }.ResolvedUsage);
        Assert.Equal(UsageFormat.CodexJson, new AgentCommandOptions { Command = "./my-agent.sh", Usage = UsageFormat.CodexJson }.ResolvedUsage);
    }

    [Theory]
    [InlineData("""{"usage":{"input_tokens":-5,"output_tokens":1}}""")]
    [InlineData("""{"usage":{"input_tokens":"many","output_tokens":1}}""")]
    [InlineData("""{"usage":{"input_tokens":1e300,"output_tokens":1}}""")]
    [InlineData("""{"usage":{"input_tokens":1,"cost_usd":-1}}""")]
    [InlineData("""{"usage":{"input_tokens":1,"cost_usd":1e9}}""")]
    [InlineData("""{"usage":[1,2,3]}""")]
    [InlineData("""not json""")]
    public void Usage_a_worker_reports_out_of_range_or_malformed_is_dropped_whole(string output)
    {
        Assert.Null(UsageJson.Read(UsageJson.ParseOutput(output)));
    }

    [Fact]
    public void Usage_a_worker_reports_reads_back_as_written()
    {
        var usage = new TokenUsage { InputTokens = 1, OutputTokens = 2, CacheCreationTokens = 3, CacheReadTokens = 4, CostUsd = 0.5 };

        Assert.Equal(usage, UsageJson.Read(UsageJson.ParseOutput(new System.Text.Json.Nodes.JsonObject { ["usage"] = UsageJson.ToJson(usage) }.ToJsonString())));
    }
}
