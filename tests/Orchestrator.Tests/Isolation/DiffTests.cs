using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Isolation;

/// <summary>
/// A silo on a git workspace after one task: each domain's agent (a shell script) edited the tracked file named after
/// its domain, created one, wrote a binary file, and rewrote <c>shared.txt</c> — so exactly one of the two conflicts.
/// </summary>
public sealed class DiffScenario : IAsyncLifetime
{
    public const string Agent = """
        echo "edited by $DOMAIN_TYPE" >> "$DOMAIN_TYPE.txt"
        printf 'created by %s\n' "$DOMAIN_TYPE" > "new-$DOMAIN_TYPE.txt"
        printf '\000\001\002binary' > "$DOMAIN_TYPE.bin"
        echo "written by $DOMAIN_TYPE" > shared.txt
        """;

    private readonly TempDirectory _dir = new();

    public SiloProcess Silo { get; private set; } = null!;

    public string TaskId { get; private set; } = "";

    public IReadOnlyDictionary<string, string> Gateway { get; private set; } = new Dictionary<string, string>();

    public async Task InitializeAsync()
    {
        var workspace = _dir.File("workspace");
        await GitRepository.InitAsync(workspace, ("backend.txt", "backend v1\n"), ("frontend.txt", "frontend v1\n"), ("shared.txt", "as it was\n"));
        Silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = workspace,
            ["Domains:Agent:Command"] = _dir.Script("agent.sh", Agent),
        });
        Gateway = Silo.CliEnvironment;
        var (_, stdout, stderr) = await CliProcess.RunAsync(Gateway, "submit", "Create user registration with form and API", "--wait", "--json");
        var result = JsonNode.Parse(stdout) ?? throw new InvalidOperationException(stderr);
        Assert.True((string?)result["status"] == "partially_completed", stdout + stderr); // one domain's shared.txt conflicts
        TaskId = (string)result["task_id"]!;
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary><c>orchestrator diff</c> and <c>GET /api/tasks/{id}/diff</c>: the change each domain's agent made, computed by its worker.</summary>
public sealed class DiffTests(DiffScenario scenario) : IClassFixture<DiffScenario>
{
    private Task<(int ExitCode, string Stdout, string Stderr)> CliAsync(params string[] args) => CliProcess.RunAsync(scenario.Gateway, args);

    private async Task<JsonArray> JsonDomainsAsync(params string[] extra)
    {
        var (exit, stdout, stderr) = await CliAsync(["diff", scenario.TaskId, "--json", .. extra]);
        Assert.True(exit == 0, stderr);
        return JsonNode.Parse(stdout)!["domains"]!.AsArray();
    }

    [Fact]
    public async Task Diff_prints_each_domains_hunks_for_the_file_it_edited_and_the_file_it_created_in_plain_text_off_a_terminal()
    {
        var (exit, stdout, stderr) = await CliAsync("diff", scenario.TaskId);

        Assert.True(exit == 0, stderr);
        foreach (var domain in new[] { "backend", "frontend" })
        {
            Assert.Contains($"diff --git a/{domain}.txt b/{domain}.txt", stdout);
            Assert.Contains($" {domain} v1\n+edited by {domain}\n", stdout); // the hunk: context, then the added line
            Assert.Contains($"diff --git a/new-{domain}.txt b/new-{domain}.txt", stdout);
            Assert.Contains($"+created by {domain}\n", stdout);
        }

        Assert.DoesNotContain("\u001b[", stdout); // stdout is a pipe here: no colour codes
    }

    [Fact]
    public async Task Diff_with_domain_prints_only_that_domains_change()
    {
        var (exit, stdout, stderr) = await CliAsync("diff", scenario.TaskId, "--domain", "frontend");

        Assert.True(exit == 0, stderr);
        Assert.Contains("+edited by frontend", stdout);
        Assert.DoesNotContain("backend", stdout);
    }

    [Fact]
    public async Task Diff_with_a_domain_the_task_does_not_have_is_refused_with_exit_code_2()
    {
        var (exit, _, stderr) = await CliAsync("diff", scenario.TaskId, "--domain", "devops");

        Assert.Equal(2, exit);
        Assert.Contains("has no part for the domain 'devops'", stderr);
    }

    [Fact]
    public async Task Diff_json_lists_each_file_with_its_status_summarises_the_binary_file_and_leaves_out_the_template()
    {
        var backend = (await JsonDomainsAsync("--domain", "backend")).Single()!;

        Assert.Equal("backend", (string?)backend["domain"]);
        var files = backend["files"]!.AsArray().ToDictionary(f => (string)f!["path"]!, f => f!);
        Assert.Equal(["backend.bin", "backend.txt", "new-backend.txt", "shared.txt"], files.Keys.Order());
        Assert.Equal("modified", (string?)files["backend.txt"]["status"]);
        Assert.Equal("added", (string?)files["new-backend.txt"]["status"]);
        Assert.True((bool)files["backend.bin"]["binary"]!);
        Assert.Null(files["backend.bin"]["patch"]);
        Assert.False((bool)backend["truncated"]!);
    }

    [Fact]
    public async Task Diff_marks_the_file_that_did_not_merge_in_json_and_in_the_terminal()
    {
        var domains = await JsonDomainsAsync();
        var (_, stdout, _) = await CliAsync("diff", scenario.TaskId);

        var conflicting = Assert.Single(domains, d => (string?)d!["merge"] == "conflict")!;
        var merged = Assert.Single(domains, d => (string?)d!["merge"] == "merged")!;
        var shared = conflicting["files"]!.AsArray().Single(f => (string?)f!["path"] == "shared.txt")!;
        Assert.True((bool)shared["conflict"]!);
        Assert.All(merged["files"]!.AsArray(), f => Assert.False((bool)f!["conflict"]!));
        Assert.Contains($"!!! CONFLICT shared.txt: not merged; this version is on branch {conflicting["branch"]}", stdout);
    }

    [Fact]
    public async Task The_http_api_returns_the_same_diff_as_the_cli_and_filters_by_domain()
    {
        using var http = scenario.Silo.CreateHttpClient();

        var all = await http.GetFromJsonAsync<JsonNode>($"/api/tasks/{scenario.TaskId}/diff");
        var frontend = await http.GetFromJsonAsync<JsonNode>($"/api/tasks/{scenario.TaskId}/diff?domain=frontend");

        Assert.Equal((await JsonDomainsAsync()).ToJsonString(), all!["domains"]!.ToJsonString());
        Assert.Equal(["frontend"], frontend!["domains"]!.AsArray().Select(d => (string?)d!["domain"]));
        using var anonymous = new HttpClient { BaseAddress = scenario.Silo.WebAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/tasks/{scenario.TaskId}/diff")).StatusCode);
    }
}

/// <summary>The limits a diff is held to, on the worker and again on the silo.</summary>
public sealed class DiffRecordTests
{
    private static FileDiff File(string path, int patchChars) => new() { Path = path, Status = "modified", Patch = new string('+', patchChars) };

    [Fact]
    public void A_diff_past_the_size_limit_keeps_every_file_but_cuts_the_patch_that_passes_it_and_drops_the_rest_with_a_marker()
    {
        var diff = new DomainDiff { Domain = "backend", Files = [File("a", 200 * 1024), File("b", 100 * 1024), File("c", 10)] };

        var capped = DiffRecord.Capped(diff);

        Assert.True(capped.Truncated);
        Assert.Equal(["a", "b", "c"], capped.Files.Select(f => f.Path));
        Assert.False(capped.Files[0].Truncated);
        Assert.True(capped.Files[1].Truncated);
        Assert.EndsWith(DiffRecord.TruncatedMarker, capped.Files[1].Patch);
        Assert.Equal(DiffRecord.MaxPatchChars, capped.Files.Sum(f => f.Patch?.Replace(DiffRecord.TruncatedMarker, "").Length ?? 0));
        Assert.Null(capped.Files[2].Patch);
        Assert.True(capped.Files[2].Truncated);
    }

    [Fact]
    public void A_diff_read_from_the_wire_is_held_to_the_same_limits()
    {
        var json = DiffRecord.ToJson(new DomainDiff { Domain = "backend", Files = Enumerable.Range(0, DiffRecord.MaxFiles + 5).Select(i => File($"f{i}", 1024)).ToArray() }).ToJsonString();

        var read = DiffRecord.Parse(json);

        Assert.Equal(DiffRecord.MaxFiles, read.Files.Count);
        Assert.True(read.Truncated);
        Assert.True(read.Files.Sum(f => f.Patch?.Length ?? 0) <= DiffRecord.MaxPatchChars + DiffRecord.TruncatedMarker.Length);
    }

    [Fact]
    public void On_a_terminal_added_lines_are_green_removed_lines_red_and_hunks_cyan()
    {
        var diff = new DomainDiff { Domain = "backend", Files = [new FileDiff { Path = "a.txt", Status = "modified", Patch = "@@ -1 +1 @@\n-old\n+new\n" }] };
        using var output = new StringWriter();

        Orchestrator.Cli.Commands.DiffCommand.Write(output, [diff], colour: true);

        Assert.Contains("\u001b[36m@@ -1 +1 @@\u001b[0m\n\u001b[31m-old\u001b[0m\n\u001b[32m+new\u001b[0m\n", output.ToString());
    }

    [Fact]
    public void Escape_sequences_and_bidirectional_overrides_in_an_agents_diff_are_shown_not_obeyed()
    {
        // A line that would clear the screen above and write the clipboard; a file name that reverses the text after it.
        var diff = new DomainDiff
        {
            Domain = "backend",
            Files = [new FileDiff { Path = "evil\u202etxt.sh", Status = "added", Patch = "+ok\u001b[2A\u001b[2K\u001b]52;c;cm0gLXJm\u0007\n" }],
        };
        using var output = new StringWriter();

        Orchestrator.Cli.Commands.DiffCommand.Write(output, [diff], colour: false);

        var text = output.ToString();
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\u0007', text);
        Assert.DoesNotContain('\u202e', text);
        Assert.Contains("+ok\\x1b[2A\\x1b[2K\\x1b]52;c;cm0gLXJm\\x07", text);
    }

    [Fact]
    public void A_diff_field_that_is_not_a_diff_is_refused()
    {
        Assert.Throws<WireFormatException>(() => DiffRecord.Parse("""{"files": [{"status": "added"}]}"""));
        Assert.Throws<WireFormatException>(() => DiffRecord.Parse("[]"));
    }
}
