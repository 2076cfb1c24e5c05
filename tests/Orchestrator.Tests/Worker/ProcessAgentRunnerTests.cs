using Orchestrator.Core.Protocol;
using Orchestrator.Tests.Support;
using Orchestrator.Worker.Agents;

namespace Orchestrator.Tests.Worker;

/// <summary>The agent CLI as a real process in a real workspace.</summary>
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

    private async Task<(AgentOutcome Outcome, List<string> Lines)> RunAsync(string script, int timeoutSeconds = 30, CancellationToken cancellationToken = default)
    {
        var runner = new ProcessAgentRunner(new AgentCommandOptions
        {
            Command = _dir.Script("agent.sh", script),
            Workspace = _workspace,
            IgnorePatterns = ["*.tmp", "node_modules"],
        });
        var lines = new List<string>();
        var outcome = await runner.RunAsync(Message(timeoutSeconds), "THE PROMPT\nsecond line", line => { lock (lines) { lines.Add(line); } }, cancellationToken);
        return (outcome, lines);
    }

    [Fact]
    public async Task Files_created_modified_and_deleted_are_reported_relative_to_the_workspace()
    {
        File.WriteAllText(Path.Combine(_workspace, "keep.txt"), "old");
        File.WriteAllText(Path.Combine(_workspace, "gone.txt"), "bye");
        Directory.CreateDirectory(Path.Combine(_workspace, ".git"));

        var (outcome, _) = await RunAsync("""
            mkdir -p src/api && echo new > src/api/users.js
            echo changed-and-longer > keep.txt
            rm gone.txt
            echo ignored > .git/HEAD
            echo ignored > scratch.tmp
            mkdir -p node_modules/x && echo ignored > node_modules/x/index.js
            """);

        Assert.True(outcome.Succeeded);
        Assert.Equal(["src/api/users.js"], outcome.Files.Created);
        Assert.Equal(["keep.txt"], outcome.Files.Modified);
        Assert.Equal(["gone.txt"], outcome.Files.Deleted);
    }

    [Fact]
    public async Task The_prompt_arrives_on_standard_input_and_in_PROMPT_FILE()
    {
        var (outcome, _) = await RunAsync("""
            cat > from-stdin.txt
            cp "$PROMPT_FILE" from-file.txt
            echo "$TASK_ID $DOMAIN_TYPE" > env.txt
            """);

        Assert.True(outcome.Succeeded);
        Assert.Equal("THE PROMPT\nsecond line", File.ReadAllText(Path.Combine(_workspace, "from-stdin.txt")));
        Assert.Equal("THE PROMPT\nsecond line", File.ReadAllText(Path.Combine(_workspace, "from-file.txt")));
        Assert.EndsWith(" backend\n", File.ReadAllText(Path.Combine(_workspace, "env.txt")));
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
        Assert.True(outcome.StdoutTail.Length <= new AgentCommandOptions { Workspace = "" }.StdoutTailChars);
    }

    [Fact]
    public async Task A_non_zero_exit_code_is_a_failure_with_that_code()
    {
        var (outcome, _) = await RunAsync("echo partial > half.txt\nexit 3");

        Assert.False(outcome.Succeeded);
        Assert.Equal(3, outcome.ExitCode);
        Assert.Equal(["half.txt"], outcome.Files.Created);
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
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z "), $"child {child} outlived the kill");
    }

    [Fact]
    public async Task A_child_left_running_after_the_agent_exits_is_killed_too()
    {
        var (outcome, _) = await RunAsync("""
            nohup sleep 300 >/dev/null 2>&1 &
            echo $! > child.pid
            exit 0
            """);

        Assert.True(outcome.Succeeded);
        var child = int.Parse(File.ReadAllText(Path.Combine(_workspace, "child.pid")).Trim());
        await Task.Delay(100); // the kill signal is delivered asynchronously
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z "), $"child {child} outlived the agent");
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
    public async Task The_demo_agent_writes_a_file_for_its_task()
    {
        var runner = new ProcessAgentRunner(new AgentCommandOptions { Command = "{demo}", Workspace = _workspace });
        var message = Message() with { Description = "Create user registration endpoint" };

        var outcome = await runner.RunAsync(message, Orchestrator.Worker.PromptBuilder.Build(message, _workspace), _ => { }, CancellationToken.None);

        Assert.True(outcome.Succeeded, outcome.StdoutTail);
        var file = Assert.Single(outcome.Files.Created);
        Assert.StartsWith("demo/backend/create-user-registration-endpoint-", file);
        Assert.Contains("## Task", File.ReadAllText(Path.Combine(_workspace, file)));
    }
}
