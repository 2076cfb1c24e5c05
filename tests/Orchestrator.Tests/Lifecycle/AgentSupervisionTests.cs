using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Tests.Support;
using Orchestrator.Tests.Worker;

namespace Orchestrator.Tests.Lifecycle;

/// <summary>
/// Budgets and stall detection end to end on the embedded network: fake agents are scripts in a workspace,
/// run by the real worker, reported to the real grains.
/// </summary>
public sealed class AgentSupervisionTests
{
    private static TaskSubmission Backend(long? budgetTokens = null) => new()
    {
        Description = "Add the registration endpoint",
        Domains = ["backend"],
        BudgetTokens = budgetTokens,
    };

    [Fact]
    public async Task An_agent_streaming_usage_past_its_token_budget_is_stopped_at_once_and_fails_budget_exceeded_without_a_retry()
    {
        var script = "";
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // One assistant message of 1000 tokens every 0.1 s, for a minute unless stopped.
            ["Domains:Agent:Command"] = dir.Script(script = "budget-agent.sh", """
                for i in $(seq 1 600); do
                  echo "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_$i\",\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"step $i\"}],\"usage\":{\"input_tokens\":400,\"output_tokens\":600,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}"
                  sleep 0.1
                done
                """),
            ["Domains:Agent:UsageFormat"] = "claude-stream-json",
            ["Orchestrator:Retry:MaxAttempts"] = "2",
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend(budgetTokens: 2500))).TaskId, seconds: 30);

        var backend = result.Subtasks.Single();
        Assert.Equal(SubtaskState.Failed, backend.State);
        Assert.StartsWith("budget exceeded: 3000 tokens used, over the budget of 2500 tokens", backend.Error);
        Assert.Equal(1, backend.Attempts);
        Assert.True(backend.Usage!.TotalTokens >= 3000, $"usage {backend.Usage.TotalTokens}"); // a line read before the kill landed still counts
        // Stopped, not left to run its minute out: no process runs the script once the attempt is reported.
        var (running, processes, _) = await CliProcess.RunProgramAsync("pgrep", ["-af", script], TimeSpan.FromSeconds(30));
        Assert.True(running == 1, $"still running: {processes}");
    }

    [Fact]
    public async Task An_agent_that_goes_silent_waiting_for_an_answer_is_killed_as_stalled_and_retried()
    {
        using var state = new TempDirectory("stall");
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // The first attempt asks a question no one can answer and waits; the second does the work.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
                if [ ! -e '{state.File("asked")}' ]; then
                  touch '{state.File("asked")}'
                  echo "Overwrite existing files? [y/N]"
                  exec tail -f /dev/null
                fi
                echo done > done.txt
                """),
            ["Domains:Agent:StallTimeout"] = "00:00:02",
            ["Orchestrator:Retry:MaxAttempts"] = "2",
        });

        var taskId = (await cluster.Client.SubmitAsync(Backend())).TaskId;
        var result = await cluster.ResultAsync(taskId, seconds: 40);

        var backend = result.Subtasks.Single();
        Assert.True(backend.State == SubtaskState.Completed, await cluster.DescribeAsync(taskId));
        Assert.Equal(2, backend.Attempts);
        var log = (await cluster.Client.GetLogsAsync(taskId)).Entries.Select(e => e.Line).ToArray();
        // The grain's line: the reason as the worker reported it, and the retry it decided on.
        var stalled = Assert.Single(log, l => l.Contains("stalled: no output and no change in its worktree for 2 s") && l.Contains("attempt 2 of 2"));
        Assert.Contains("Its last output:\nOverwrite existing files? [y/N]", stalled);
    }

    [Fact]
    public async Task An_agent_that_writes_no_output_but_keeps_changing_its_worktree_is_not_stalled()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // Silent for twice the stall period, but a file changes every 0.4 s.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", "for i in $(seq 1 10); do echo $i > progress.txt; sleep 0.4; done"),
            ["Domains:Agent:StallTimeout"] = "00:00:02",
        });

        var taskId = (await cluster.Client.SubmitAsync(Backend())).TaskId;
        var result = await cluster.ResultAsync(taskId, seconds: 30);

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(taskId));
        Assert.Equal(1, result.Subtasks.Single().Attempts);
    }

    [Theory]
    [InlineData("Usd", "-1", "Orchestrator:Budget:Usd is -1: give a positive amount of US dollars")]
    [InlineData("Tokens", "0", "Orchestrator:Budget:Tokens is 0: give a positive number of tokens")]
    public async Task A_default_budget_that_cannot_work_stops_the_silo_at_start_naming_the_setting(string setting, string value, string expected)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => OrchestratorCluster.StartAsync(_ => new()
        {
            [$"Orchestrator:Budget:{setting}"] = value,
        }));

        Assert.Contains(expected, error.ToString());
    }

    [Fact]
    public async Task The_default_budget_applies_to_a_task_that_names_none()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", AgentEventsTests.ClaudeRunScript()),
            ["Domains:Agent:UsageFormat"] = "claude-stream-json",
            ["Orchestrator:Budget:Tokens"] = "1000",
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend())).TaskId);

        Assert.StartsWith("budget exceeded: 14234 tokens used, over the budget of 1000 tokens", result.Subtasks.Single().Error);
    }

    [Fact]
    public async Task A_stream_json_agents_events_reach_the_task_log_as_readable_lines()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", AgentEventsTests.ClaudeRunScript()),
            ["Domains:Agent:UsageFormat"] = "claude-stream-json",
        });

        var taskId = (await cluster.Client.SubmitAsync(Backend())).TaskId;
        await cluster.ResultAsync(taskId);

        var log = (await cluster.Client.GetLogsAsync(taskId)).Entries.Select(e => e.Line).ToArray();
        Assert.Contains(log, l => l.EndsWith("] I'll create the endpoint.", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith("] [tool] Bash npm test", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith("] [agent] finished: success, 2 turns, 0.0187 USD", StringComparison.Ordinal));
        Assert.DoesNotContain(log, l => l.Contains("{\"type\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tokens_and_cost_of_each_subtask_and_of_the_task_show_in_the_result_json()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", AgentEventsTests.ClaudeRunScript()),
            ["Domains:Agent:UsageFormat"] = "claude-stream-json",
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission
        {
            Description = "Create user registration with form and API",
            Domains = ["backend", "frontend"],
        })).TaskId);

        var json = ResultAggregator.ToResultJson(result);
        Assert.All(json["subtasks"]!.AsArray(), s =>
        {
            Assert.Equal(28452, (long)s!["usage"]!["total_tokens"]!);
            Assert.Equal(27200, (long)s["usage"]!["cache_read_input_tokens"]!);
            Assert.Equal(0.0187, (double)s["usage"]!["cost_usd"]!);
        });
        Assert.Equal(2 * 28452, (long)json["usage"]!["total_tokens"]!);
        Assert.Equal(2 * 0.0187, (double)json["usage"]!["cost_usd"]!, 9);
    }

    [Fact]
    public async Task Reported_tokens_and_cost_are_counted_in_the_metrics_by_domain_and_kind()
    {
        var tokens = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        var cost = 0.0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Orchestrator" && instrument.Name is "orchestrator.agent.tokens" or "orchestrator.agent.cost")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (Tag(tags, "domain") == "backend")
            {
                tokens.AddOrUpdate(Tag(tags, "kind")!, value, (_, sum) => sum + value);
            }
        });
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            if (Tag(tags, "domain") == "backend")
            {
                lock (tokens)
                {
                    cost += value;
                }
            }
        });
        listener.Start();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", AgentEventsTests.ClaudeRunScript()),
            ["Domains:Agent:UsageFormat"] = "claude-stream-json",
        });

        await cluster.ResultAsync((await cluster.Client.SubmitAsync(Backend())).TaskId);

        // Other tests of this process may report usage for backend too: at least this run's figures are there.
        Assert.True(tokens.GetValueOrDefault("cache_read") >= 27200, string.Join(", ", tokens));
        Assert.True(tokens.GetValueOrDefault("output") >= 42, string.Join(", ", tokens));
        Assert.True(cost >= 0.0187, $"cost {cost}");
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name)
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
