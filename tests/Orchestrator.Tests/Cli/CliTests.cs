using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Cli;

/// <summary>The `orchestrator` command as a user runs it: a real process, its exit code, stdout and stderr.</summary>
public sealed class CliTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(params string[] args) => RunCliAsync(new Dictionary<string, string>(), args);

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(Dictionary<string, string> environment, params string[] args) =>
        CliProcess.RunAsync(environment, args);

    [Fact]
    public async Task Run_completes_the_seed_example_and_each_domain_reports_the_file_its_demo_agent_wrote()
    {
        using var workspace = new TempDirectory();

        var (exit, stdout, stderr) = await RunCliAsync("run", "Create user registration with form and API",
            "-r", "POST /api/users/register", "-r", "Build registration form component", "--workspace", workspace.Path, "--json");

        Assert.True(exit == 0, stderr);
        var result = JsonNode.Parse(stdout)!;
        Assert.Equal("completed", (string?)result["status"]);
        Assert.Equal(["backend", "frontend"], result["domains_used"]!.AsArray().Select(d => (string?)d));
        foreach (var subtask in result["subtasks"]!.AsArray())
        {
            var domain = (string)subtask!["domain"]!;
            var own = subtask["output"]!["files_created"]!.AsArray().Select(f => (string)f!).Single(f => f.StartsWith($"demo/{domain}/"));
            Assert.True(File.Exists(Path.Combine(workspace.Path, own)), own);
        }

        Assert.Contains("submitted to backend, frontend", stderr); // progress goes to stderr when stdout is JSON
    }

    [Fact]
    public async Task Run_with_a_token_budget_stops_a_stream_json_agent_past_it_and_its_json_shows_the_usage()
    {
        using var workspace = new TempDirectory();
        var agent = workspace.Script("agent.sh", Worker.AgentEventsTests.ClaudeRunScript());

        var (exit, stdout, stderr) = await RunCliAsync(
            new Dictionary<string, string> { ["Domains__Agent__Command"] = agent, ["Domains__Agent__UsageFormat"] = "claude-stream-json" },
            "run", "Add an API endpoint", "--domain", "backend", "--budget-tokens", "1000", "--workspace", Path.Combine(workspace.Path, "ws"), "--json");

        Assert.True(exit == 1, stderr);
        var subtask = JsonNode.Parse(stdout)!["subtasks"]!.AsArray().Single()!;
        Assert.StartsWith("budget exceeded: 14234 tokens used, over the budget of 1000 tokens", (string)subtask["error"]!);
        Assert.True((long)subtask["usage"]!["total_tokens"]! >= 14234, subtask.ToJsonString());
        Assert.Equal((long)subtask["usage"]!["total_tokens"]!, (long)JsonNode.Parse(stdout)!["usage"]!["total_tokens"]!);
    }

    [Fact]
    public async Task Run_with_notify_posts_the_signed_result_before_it_exits_and_prints_the_delivery()
    {
        using var workspace = new TempDirectory();
        await using var receiver = WebhookReceiver.Start(200);
        var environment = new Dictionary<string, string> { ["Webhooks__Secret"] = "test-webhook-secret-0123456789", ["Webhooks__AllowPrivateNetworks"] = "true" };

        var (exit, stdout, stderr) = await RunCliAsync(environment, "run", "Add an API endpoint", "--notify", receiver.Url, "--workspace", workspace.Path, "--json");

        Assert.True(exit == 0, stderr);
        var result = JsonNode.Parse(stdout)!;
        var webhook = receiver.All.Single();
        var delivery = result["webhooks"]!.AsArray().Single()!;
        Assert.Equal("delivered", (string?)delivery["status"]);
        Assert.Equal(webhook.Header("X-Orchestrator-Delivery"), (string?)delivery["delivery_id"]);
        Assert.Equal((string?)result["task_id"], (string?)JsonNode.Parse(webhook.Body)!["task_id"]);
    }

    [Fact]
    public async Task Run_with_notify_is_refused_when_no_webhook_secret_is_configured()
    {
        using var workspace = new TempDirectory();

        var (exit, _, stderr) = await RunCliAsync("run", "Add an API endpoint", "--notify", "https://hooks.example.com/task", "--workspace", workspace.Path);

        Assert.NotEqual(0, exit);
        Assert.Contains("no webhook secret", stderr);
    }

    [Fact]
    public async Task Run_interrupted_with_ctrl_c_stops_its_agent_removes_its_worktree_and_exits_130_saying_so()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var started = dir.File("agent.pid");
        await using var run = CliProcess.Start(new Dictionary<string, string> { ["Domains__Agent__Command"] = dir.Script("agent.sh", $"echo $$ > '{started}'\nexec sleep 300") },
            "run", "Add an API endpoint", "--workspace", dir.File("workspace"));
        await Eventually.TrueAsync(() => File.Exists(started) && File.ReadAllText(started).Trim().Length > 0, $"the agent never started:\n{run.Output}", seconds: 60);
        var agent = int.Parse(File.ReadAllText(started));
        try
        {
            await run.InterruptAsync();
            await run.WaitForExitAsync(seconds: 30);

            Assert.True(run.ExitCode == 130, run.Output);
            Assert.Contains("error: Interrupted.", run.Output);
            await Eventually.TrueAsync(() => !Runs(agent), "the agent still runs", seconds: 10);
        }
        finally
        {
            if (Runs(agent))
            {
                System.Diagnostics.Process.GetProcessById(agent).Kill(); // outlives the command's process tree otherwise
            }
        }

        Assert.Empty(Directory.Exists(dir.File("workspace/.orchestrator/worktrees")) ? Directory.GetFileSystemEntries(dir.File("workspace/.orchestrator/worktrees")) : []);
    }

    [Fact]
    public async Task Submit_wait_interrupted_with_ctrl_c_exits_130_and_the_task_runs_on_in_the_silo()
    {
        using var dir = new TempDirectory();
        await using var silo = await StartSiloAsync(dir, agentCommand: "sleep 300");
        var gateway = silo.CliEnvironment;
        await using var submit = CliProcess.Start(gateway, "submit", "Add an API endpoint", "--wait");
        await Eventually.TrueAsync(() => submit.Output.Contains("in_progress"), $"the task never showed in progress:\n{submit.Output}", seconds: 60);

        await submit.InterruptAsync();
        await submit.WaitForExitAsync(seconds: 30);
        var (listed, tasks, listErr) = await RunCliAsync(gateway, "tasks", "--json");

        Assert.True(submit.ExitCode == 130, submit.Output);
        Assert.Contains("error: Interrupted.", submit.Output);
        Assert.True(listed == 0, listErr);
        Assert.Equal("in_progress", (string?)JsonNode.Parse(tasks)!.AsArray().Single()!["status"]);
    }

    /// <summary>A silo process whose agents run <paramref name="agentCommand"/> in <paramref name="dir"/>'s workspace.</summary>
    private static Task<SiloProcess> StartSiloAsync(TempDirectory dir, string agentCommand)
    {
        Directory.CreateDirectory(dir.File("workspace"));
        return SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Command"] = agentCommand,
        });
    }

    /// <summary>Whether the process exists and is no zombie waiting to be reaped.</summary>
    private static bool Runs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public async Task The_main_job_prints_nothing_on_stderr_but_what_the_user_asked_for()
    {
        // Late state writes at shutdown made Orleans log a screen of warnings in about every other run: try a few.
        for (var run = 0; run < 3; run++)
        {
            using var workspace = new TempDirectory();

            var (exit, _, stderr) = await RunCliAsync("run", "Create user registration with form and API",
                "-r", "POST /api/users/register", "-r", "Build registration form component", "--workspace", workspace.Path);

            Assert.Equal(0, exit);
            Assert.True(stderr.Length == 0, $"stderr of run {run + 1}:\n{stderr}");
        }
    }

    [Fact]
    public async Task Analyze_json_has_domains_and_subtasks_with_their_workers()
    {
        var (exit, stdout, _) = await RunCliAsync("analyze", "Deploy the authentication service", "--json");

        Assert.Equal(0, exit);
        var plan = JsonNode.Parse(stdout)!;
        Assert.Equal(["backend", "devops"], plan["domains"]!.AsArray().Select(d => (string?)d));
        var devops = plan["subtasks"]!.AsArray().Single(s => (string?)s!["domain"] == "devops")!;
        Assert.Equal("Deploy the authentication service", (string?)devops["description"]);
        Assert.NotNull(devops["requirements"]!.AsArray());
        Assert.Contains("ci-worker", devops["workers"]!.AsArray().Select(w => (string?)w));
    }

    [Fact]
    public async Task Analyze_shows_the_order_of_domains_that_start_after_others()
    {
        string[] args = ["analyze", "Deploy the registration form and its API", "--after", "frontend:backend", "--after", "devops:backend"];

        var (exit, stdout, _) = await RunCliAsync([.. args, "--json"]);
        var (tableExit, table, _) = await RunCliAsync(args);

        Assert.Equal(0, exit);
        var plan = JsonNode.Parse(stdout)!;
        Assert.Equal([["backend"], ["frontend", "devops"]], plan["order"]!.AsArray().Select(stage => stage!.AsArray().Select(d => (string?)d)));
        Assert.Equal(["backend"], plan["subtasks"]!.AsArray().Single(s => (string?)s!["domain"] == "frontend")!["after"]!.AsArray().Select(d => (string?)d));
        Assert.Equal(0, tableExit);
        Assert.Contains("Order: backend then frontend + devops", table);
    }

    [Theory]
    [InlineData("The description is empty", "analyze", " ")]
    [InlineData("must be a JSON object", "analyze", "Add an API", "--context", "[1]")]
    [InlineData("Unknown domain 'mobile'", "analyze", "Add an API", "--domain", "mobile")]
    [InlineData("Invalid priority 'urgent'", "run", "Add an API", "--priority", "urgent")]
    [InlineData("out of range", "run", "Add an API", "--timeout", "0")]
    [InlineData("No domain matches this task", "run", "make coffee")]
    [InlineData("The budget of 0 tokens is out of range", "run", "Add an API", "--budget-tokens", "0")]
    [InlineData("The budget 0 USD is out of range", "run", "Add an API", "--budget-usd", "0")]
    [InlineData("--older-than '-5m' is not an age", "tasks", "prune", "--older-than", "-5m")]
    [InlineData("The domains' order has a cycle: backend after frontend after backend", "run", "Create user registration with form and API",
        "--after", "frontend:backend", "--after", "backend:frontend")]
    [InlineData("names frontend, which is not in this task's plan (backend)", "analyze", "Add an API endpoint", "--after", "frontend:backend")]
    [InlineData("The ordering 'frontend' is not domain:dependency", "analyze", "Add an API endpoint", "--after", "frontend")]
    public async Task Bad_input_gets_one_line_naming_the_problem_and_a_non_zero_exit(string expected, params string[] args)
    {
        var (exit, stdout, stderr) = await RunCliAsync(args);

        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
        Assert.StartsWith("error: ", stderr);
        Assert.Equal("", stdout);
    }

    [Fact]
    public async Task Tasks_prune_removes_a_finished_task_prints_it_as_json_and_its_status_then_says_it_is_gone()
    {
        using var dir = new TempDirectory();
        await using var silo = await StartSiloAsync(dir, agentCommand: "demo");
        var gateway = silo.CliEnvironment;
        var (submitted, submitOut, submitErr) = await RunCliAsync(gateway, "submit", "Add an API endpoint", "--domain", "backend", "--wait", "--json");
        Assert.True(submitted == 0, submitErr);
        var taskId = (string)JsonNode.Parse(submitOut)!["task_id"]!;

        var (exit, stdout, stderr) = await RunCliAsync(gateway, "tasks", "prune", "--older-than", "0", "--json");

        Assert.True(exit == 0, stderr);
        var removed = JsonNode.Parse(stdout)!["removed"]!.AsArray();
        Assert.Equal([taskId], removed.Select(r => (string)r!["task_id"]!));
        Assert.Equal("completed", (string)removed[0]!["status"]!);
        var (statusExit, _, statusErr) = await RunCliAsync(gateway, "status", taskId);
        Assert.Equal(3, statusExit);
        Assert.Contains($"No task with id '{taskId}'", statusErr);
        Assert.Contains("retention period", statusErr);
    }

    [Fact]
    public async Task Run_with_a_negative_retention_refuses_to_start_with_an_error_line_naming_the_setting_and_exit_code_2()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = await RunCliAsync(new Dictionary<string, string> { ["Orchestrator__Retention__FinishedTasks"] = "-1" },
            "run", "Add an API endpoint", "--workspace", dir.Path);

        Assert.Equal(2, exit);
        Assert.Contains("error: Orchestrator:Retention:FinishedTasks is -1.00:00:00, which is negative", stderr);
    }

    [Fact]
    public async Task Run_refuses_to_pass_an_orchestrator_setting_to_its_agents_naming_the_setting_and_exit_code_2()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = await RunCliAsync(new Dictionary<string, string> { ["Domains__Agent__PassEnvironment__0"] = "Redis__ConnectionString" },
            "run", "Add an API endpoint", "--workspace", dir.Path);

        Assert.Equal(2, exit);
        Assert.Contains("error: Domains:Agent:PassEnvironment names Redis__ConnectionString, a setting of the orchestrator itself", stderr);
    }

    [Fact]
    public async Task Commands_against_a_silo_that_is_not_running_say_how_to_start_one()
    {
        var nobodyListens = $"127.0.0.1:{Orchestrator.Hosting.OrchestratorSiloHost.FreePort()}";
        var (exit, _, stderr) = await RunCliAsync(new Dictionary<string, string> { ["Cluster__Gateway"] = nobodyListens }, "status", "some-task");

        Assert.Equal(4, exit);
        Assert.Contains($"Could not reach an orchestrator at {nobodyListens}", stderr);
        Assert.Contains("dotnet run --project silo", stderr);
    }
}
