using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Tests.Isolation;
using Orchestrator.Tests.Support;
using Xunit.Abstractions;

namespace Orchestrator.Tests.Web;

/// <summary>The task view in a real browser: headless Chromium driven by tests/browser/task-view.mjs (playwright-core).</summary>
public sealed class TaskViewBrowserTests(ITestOutputHelper output)
{
    [BrowserFact]
    public async Task The_task_view_shows_a_running_task_live_with_its_subtasks_and_log_and_the_dashboard_shows_the_silo()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        File.WriteAllText(dir.File("workspace/hold"), "");
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Command"] = dir.Script("agent.sh", """
                echo "working on it"
                for i in $(seq 1 600); do [ -f hold ] || break; sleep 0.1; done
                """),
        });
        using var http = silo.CreateHttpClient();
        var created = await http.PostAsync("/api/tasks", new StringContent("""{"description": "Create user registration with form and API"}""", Encoding.UTF8, "application/json"));
        var taskId = (string)(await created.Content.ReadFromJsonAsync<JsonNode>())!["task_id"]!;
        var screenshot = Path.Combine(BuiltProgram.RepositoryRoot, ".ci", "results", "task-view.png");
        var dashboardScreenshot = Path.Combine(BuiltProgram.RepositoryRoot, ".ci", "results", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);

        var (exit, stdout, stderr) = await RunAsync("node", Path.Combine(BuiltProgram.RepositoryRoot, "tests", "browser", "task-view.mjs"), $"{silo.WebAddress}?token={silo.AccessToken}", taskId, screenshot, dashboardScreenshot);
        File.Delete(dir.File("workspace/hold"));

        Assert.True(exit == 0, stderr);
        var seen = JsonNode.Parse(stdout)!;
        Assert.Equal(silo.WebAddress.ToString(), (string?)seen["address"]); // the token left the address bar
        Assert.Empty(seen["blocked"]!.AsArray()); // the Content-Security-Policy blocks nothing the pages need
        Assert.Equal("live", (string?)seen["connection"]);
        Assert.Contains("Create user registration with form and API", (string)seen["row"]!);
        Assert.Contains("in progress", (string)seen["row"]!);
        Assert.Equal(2, seen["subtasks"]!.AsArray().Count);
        Assert.Contains("working on it", (string)seen["log"]!);
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        Assert.Matches("(?i)active silos\\s+1", (string)seen["dashboard"]!); // the dashboard sees this silo
        Assert.True(new FileInfo(dashboardScreenshot).Length > 10_000);
        output.WriteLine($"screenshots: {screenshot} {dashboardScreenshot}");
    }

    internal static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(bound.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>The task view's Changes: each domain's diff as its worker computed it, in a real browser.</summary>
public sealed class TaskViewDiffBrowserTests(DiffScenario scenario, ITestOutputHelper output) : IClassFixture<DiffScenario>
{
    [BrowserFact]
    public async Task The_task_view_shows_each_domains_diff_with_its_added_lines_and_the_conflicting_file_flagged()
    {
        var screenshot = Path.Combine(BuiltProgram.RepositoryRoot, ".ci", "results", "task-view-diff.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);

        var (exit, stdout, stderr) = await TaskViewBrowserTests.RunAsync("node", Path.Combine(BuiltProgram.RepositoryRoot, "tests", "browser", "task-view.mjs"),
            $"{scenario.Silo.WebAddress}?token={scenario.Silo.AccessToken}", scenario.TaskId, screenshot, "--diff");

        Assert.True(exit == 0, stderr);
        var seen = JsonNode.Parse(stdout)!;
        Assert.Empty(seen["blocked"]!.AsArray());
        var domains = seen["diff"]!.AsArray().ToDictionary(d => (string)d!["domain"]!, d => d!);
        Assert.Equal(["backend", "frontend"], domains.Keys.Order());
        foreach (var (domain, shown) in domains)
        {
            var added = shown["added"]!.AsArray().Select(a => (string)a!).ToArray();
            Assert.Contains($"+edited by {domain}", added); // visible, and styled as an added line
            Assert.Contains($"+created by {domain}", added);
            Assert.Contains($"{domain}.bin (added)", (string)shown["text"]!);
            Assert.Contains("Binary file, not shown.", (string)shown["text"]!);
        }

        var conflict = Assert.Single(domains.Values.SelectMany(d => d["conflicts"]!.AsArray()));
        Assert.StartsWith("shared.txt (modified)", (string)conflict!);
        Assert.Contains("conflict: not merged", (string)conflict!);
        Assert.True(new FileInfo(screenshot).Length > 10_000);
        output.WriteLine($"screenshot: {screenshot}");
    }
}

/// <summary>
/// A test that needs Chromium, Node.js and tests/browser's node_modules. In CI it always runs; elsewhere it is
/// skipped with the reason when one is missing (apt-get install chromium; npm ci in tests/browser).
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        if (!File.Exists("/usr/bin/chromium") || !RedisFactAttribute.OnPath("node")
            || !Directory.Exists(Path.Combine(BuiltProgram.RepositoryRoot, "tests", "browser", "node_modules", "playwright-core")))
        {
            Skip = "SKIPPED: needs /usr/bin/chromium, node and `npm ci` in tests/browser; CI runs this test.";
        }
    }
}
