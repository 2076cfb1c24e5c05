using Orchestrator.Core.Protocol;
using Orchestrator.Tests.Support;
using Orchestrator.Worker.Agents;

namespace Orchestrator.Tests.Worker;

/// <summary>The agent CLI as a real process in a real directory.</summary>
public sealed class ProcessAgentRunnerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _workspace;

    public ProcessAgentRunnerTests()
    {
        _workspace = _dir.File("workspace");
        Directory.CreateDirectory(_workspace);
    }

    public void Dispose() => _dir.Dispose();

    private static TaskMessage Message(int timeoutSeconds = 30) => new()
    {
        TaskId = Guid.NewGuid().ToString(),
        Destination = "backend",
        Description = "Build it",
        TimeoutSeconds = timeoutSeconds,
    };

    private async Task<(AgentOutcome Outcome, List<string> Lines)> RunAsync(
        string script, int timeoutSeconds = 30, CancellationToken cancellationToken = default, string prompt = "THE PROMPT\nsecond line", AgentCommandOptions? options = null)
    {
        options ??= new AgentCommandOptions();
        options.Command = _dir.Script("agent.sh", script);
        var runner = new ProcessAgentRunner(options);
        var lines = new List<string>();
        var outcome = await runner.RunAsync(new AgentRun(Message(timeoutSeconds), prompt, _workspace, "backend"), line => { lock (lines) { lines.Add(line); } }, cancellationToken);
        return (outcome, lines);
    }

    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");

    [Fact]
    public async Task The_prompt_arrives_on_standard_input_and_in_PROMPT_FILE()
    {
        var (outcome, _) = await RunAsync("""
            cat > from-stdin.txt
            cp "$PROMPT_FILE" from-file.txt
            echo "$TASK_ID $DOMAIN_TYPE $WORKSPACE" > env.txt
            """);

        Assert.True(outcome.Succeeded);
        Assert.Equal("THE PROMPT\nsecond line", File.ReadAllText(Path.Combine(_workspace, "from-stdin.txt")));
        Assert.Equal("THE PROMPT\nsecond line", File.ReadAllText(Path.Combine(_workspace, "from-file.txt")));
        Assert.EndsWith($" backend {_workspace}\n", File.ReadAllText(Path.Combine(_workspace, "env.txt")));
    }

    [Fact]
    public async Task Output_is_streamed_line_by_line_and_its_tail_is_kept_bounded()
    {
        var (outcome, lines) = await RunAsync("""
            for i in $(seq 1 5000); do echo "line $i of a long output that goes on"; done
            echo "to stderr" >&2
            """);

        Assert.Equal(5001, lines.Count);
        Assert.Contains("[stderr] to stderr", lines);
        Assert.EndsWith("line 5000 of a long output that goes on\n", outcome.StdoutTail);
        Assert.True(outcome.StdoutTail.Length <= new AgentCommandOptions().StdoutTailChars);
    }

    [Fact]
    public async Task A_non_zero_exit_code_is_a_failure_with_that_code()
    {
        var (outcome, _) = await RunAsync("exit 3");

        Assert.False(outcome.Succeeded);
        Assert.Equal(3, outcome.ExitCode);
    }

    [Fact]
    public async Task The_timeout_kills_the_whole_process_tree_even_a_child_that_ignores_SIGTERM()
    {
        var (outcome, _) = await RunAsync("""
            ( trap '' TERM; sleep 300 ) &
            echo $! > child.pid
            trap '' TERM
            sleep 300
            """, timeoutSeconds: 1);

        Assert.False(outcome.Succeeded);
        Assert.Contains("Timed out after 1 s", outcome.StopReason);
        var child = int.Parse(File.ReadAllText(Path.Combine(_workspace, "child.pid")).Trim());
        Assert.False(Alive(child), $"child {child} outlived the kill");
    }

    [Fact]
    public async Task A_child_left_running_after_the_agent_exits_is_killed_before_the_outcome()
    {
        var (outcome, _) = await RunAsync("""
            sleep 300 &
            echo $! > child.pid
            exit 0
            """);

        Assert.True(outcome.Succeeded);
        var child = int.Parse(File.ReadAllText(Path.Combine(_workspace, "child.pid")).Trim());
        await Eventually.TrueAsync(() => !Alive(child), $"child {child} outlived the agent", seconds: 2); // SIGKILL is delivered asynchronously
    }

    [Fact]
    public async Task Cancelling_stops_the_agent_with_a_reason()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var (outcome, _) = await RunAsync("sleep 300", cancellationToken: cancel.Token);

        Assert.False(outcome.Succeeded);
        Assert.Contains("Stopped before it finished", outcome.StopReason);
    }

    [Fact]
    public async Task An_agent_that_never_reads_a_prompt_over_64_KiB_is_still_timed_out_on_time()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();

        var (outcome, _) = await RunAsync("trap '' TERM\nsleep 300", timeoutSeconds: 1, prompt: new string('p', 200 * 1024));

        Assert.Contains("Timed out after 1 s", outcome.StopReason);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(4), $"the run took {started.Elapsed}");
    }

    [Fact]
    public async Task A_line_longer_than_the_cap_is_cut_with_a_marker_and_the_next_line_arrives_whole()
    {
        var (outcome, lines) = await RunAsync("""
            head -c 200000 /dev/zero | tr '\0' 'x'
            echo
            echo after
            """, options: new AgentCommandOptions { MaxLineBytes = 1024 });

        Assert.True(outcome.Succeeded);
        Assert.Equal([new string('x', 1024) + BoundedLineReader.TruncationMarker(1024), "after"], lines);
    }

    [Fact]
    public async Task The_agent_gets_only_the_allow_listed_environment_and_the_pass_through_names()
    {
        var secret = "ORCHESTRATOR_TEST_SECRET_" + Guid.NewGuid().ToString("N");
        var key = "ORCHESTRATOR_TEST_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(secret, "redis://:hunter2@127.0.0.1:6379");
        Environment.SetEnvironmentVariable(key, "sk-model-key");
        try
        {
            var (outcome, _) = await RunAsync("env > env.txt", options: new AgentCommandOptions { PassEnvironment = [key] });

            Assert.True(outcome.Succeeded);
            var variables = File.ReadAllLines(Path.Combine(_workspace, "env.txt"));
            Assert.Contains($"{key}=sk-model-key", variables);
            Assert.DoesNotContain(variables, v => v.Contains("hunter2", StringComparison.Ordinal));
            // Beside what /bin/sh sets itself (PWD, SHLVL, _), nothing but the allow-list.
            var names = variables.Select(v => v.Split('=')[0]).Where(n => !n.StartsWith("LC_", StringComparison.Ordinal));
            Assert.Empty(names.Except(["PATH", "HOME", "LANG", "TERM", "TASK_ID", "DOMAIN_TYPE", "WORKSPACE", "PROMPT_FILE", key, "PWD", "OLDPWD", "SHLVL", "_"]));
        }
        finally
        {
            Environment.SetEnvironmentVariable(secret, null);
            Environment.SetEnvironmentVariable(key, null);
        }
    }

    [Fact]
    public async Task The_demo_agent_writes_a_file_for_its_task()
    {
        var runner = new ProcessAgentRunner(new AgentCommandOptions { Command = "{demo}" });
        var message = Message() with { Description = "Create user registration endpoint" };

        var outcome = await runner.RunAsync(
            new AgentRun(message, Orchestrator.Worker.PromptBuilder.Build(message, "backend", _workspace), _workspace, "backend"), _ => { }, CancellationToken.None);

        Assert.True(outcome.Succeeded, outcome.StdoutTail);
        var file = Assert.Single(Directory.GetFiles(Path.Combine(_workspace, "demo", "backend")));
        Assert.StartsWith("create-user-registration-endpoint-", Path.GetFileName(file));
        Assert.Contains("## Task", File.ReadAllText(file));
    }

    [Fact]
    public async Task An_agent_asking_for_an_answer_gets_no_terminal_and_the_end_of_its_input_instead_of_waiting()
    {
        var (outcome, lines) = await RunAsync("""
            cat > /dev/null
            if read -r answer 2>/dev/null </dev/tty; then echo "terminal: $answer"; else echo "no terminal"; fi
            if read -r answer; then echo "stdin: $answer"; else echo "end of input"; fi
            """);

        Assert.True(outcome.Succeeded);
        Assert.Equal(["no terminal", "end of input"], lines);
    }
}
