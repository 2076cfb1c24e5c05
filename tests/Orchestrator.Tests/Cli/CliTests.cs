using System.Diagnostics;
using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Cli;

/// <summary>The `orchestrator` command as a user runs it: a real process, its exit code, stdout and stderr.</summary>
public sealed class CliTests
{
    private static Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(params string[] args) => RunCliAsync(new Dictionary<string, string>(), args);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "orchestrator.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

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

    [Theory]
    [InlineData("The description is empty", "analyze", " ")]
    [InlineData("must be a JSON object", "analyze", "Add an API", "--context", "[1]")]
    [InlineData("Unknown domain 'mobile'", "analyze", "Add an API", "--domain", "mobile")]
    [InlineData("Invalid priority 'urgent'", "run", "Add an API", "--priority", "urgent")]
    [InlineData("out of range", "run", "Add an API", "--timeout", "0")]
    [InlineData("No domain matches this task", "run", "make coffee")]
    [InlineData("--older-than '-5m' is not an age", "tasks", "prune", "--older-than", "-5m")]
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
        Directory.CreateDirectory(dir.File("workspace"));
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Command"] = "demo",
        });
        var gateway = new Dictionary<string, string>
        {
            ["Cluster__Gateway"] = $"127.0.0.1:{silo.GatewayPort}",
            ["Cluster__AccessToken"] = silo.AccessToken,
        };
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
    public async Task Commands_against_a_silo_that_is_not_running_say_how_to_start_one()
    {
        var nobodyListens = $"127.0.0.1:{Orchestrator.Hosting.OrchestratorSiloHost.FreePort()}";
        var (exit, _, stderr) = await RunCliAsync(new Dictionary<string, string> { ["Cluster__Gateway"] = nobodyListens }, "status", "some-task");

        Assert.Equal(4, exit);
        Assert.Contains($"Could not reach an orchestrator at {nobodyListens}", stderr);
        Assert.Contains("dotnet run --project silo", stderr);
    }
}
