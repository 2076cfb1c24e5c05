using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Web;

/// <summary>One real silo program (embedded defaults, demo agent) with its HTTP API on a free port of 127.0.0.1.</summary>
public sealed class WebSilo : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();

    public SiloProcess Silo { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir.File("workspace"));
        Silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = _dir.File("workspace"),
            ["Domains:Agent:Command"] = _dir.Script("agent.sh", """
                for i in $(seq 1 100); do [ -f hold ] || break; sleep 0.1; done
                cat > "$DOMAIN_TYPE-$TASK_ID.txt"; echo "wrote it"
                """),
            ["Web:Metrics"] = "true",
        });
        Http = Silo.CreateHttpClient();
    }

    public string Workspace => _dir.File("workspace");

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Silo.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>The HTTP API as curl or a Python client would use it.</summary>
public sealed class HttpApiTests(WebSilo web) : IClassFixture<WebSilo>
{
    private HttpClient Http => web.Http;

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>Reads the task's server-sent events up to <c>end</c>; returns every event as (name, data).</summary>
    private async Task<List<(string Event, JsonNode Data)>> FollowAsync(string taskId)
    {
        var events = new List<(string, JsonNode)>();
        using var response = await Http.GetAsync($"/api/tasks/{taskId}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? name = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((name!, JsonNode.Parse(line["data: ".Length..])!));
                if (name == "end")
                {
                    break;
                }
            }
        }

        return events;
    }

    [Fact]
    public async Task A_task_posted_over_http_can_be_followed_as_events_and_read_in_the_seed_shape()
    {
        var created = await Http.PostAsync("/api/tasks", Json("""
            {"description": "Create user registration with form and API",
             "requirements": ["POST /api/users/register", "Build registration form component"],
             "context": {"framework": "fastapi"}, "priority": "high", "timeout_seconds": 120}
            """));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var taskId = (string)(await created.Content.ReadFromJsonAsync<JsonNode>())!["task_id"]!;

        var events = await FollowAsync(taskId);
        var result = (await Http.GetFromJsonAsync<JsonNode>($"/api/tasks/{taskId}"))!;

        Assert.Contains(events, e => e.Event == "log" && ((string)e.Data["line"]!).Contains("wrote it"));
        Assert.Contains(events, e => e.Event == "status");
        Assert.Equal("completed", (string?)events.Last().Data["status"]);
        Assert.Equal("completed", (string?)result["status"]);
        Assert.Equal("high", (string?)result["priority"]);
        Assert.Equal(["backend", "frontend"], result["domains_used"]!.AsArray().Select(d => (string?)d));
        Assert.Equal(2, result["files_created"]!.AsArray().Count);
        foreach (var subtask in result["subtasks"]!.AsArray())
        {
            Assert.NotNull(subtask!["task_id"]);
            Assert.Equal("completed", (string?)subtask["status"]);
            Assert.NotNull(subtask["output"]!["files_created"]);
            Assert.True(subtask.AsObject().ContainsKey("error"));
        }
    }

    [Theory]
    [InlineData("""{"description": "   "}""", "The description is empty")]
    [InlineData("""this is not json""", "not valid JSON")]
    [InlineData("""["Add an API"]""", "must be a JSON object")]
    [InlineData("""{"description": "Add an API", "context": [1, 2]}""", "\"context\" must be a JSON object")]
    [InlineData("""{"description": "Add an API", "priority": "urgent"}""", "Invalid priority 'urgent'")]
    [InlineData("""{"description": "Add an API", "timeout_seconds": 0}""", "out of range")]
    [InlineData("""{"description": "Add an API", "timeout_seconds": "soon"}""", "\"timeout_seconds\" must be a whole number")]
    [InlineData("""{"description": "Add an API", "budget_usd": -1}""", "The budget -1 USD is out of range")]
    [InlineData("""{"description": "Add an API", "budget_usd": "cheap"}""", "\"budget_usd\" must be a number of US dollars")]
    [InlineData("""{"description": "Add an API", "budget_tokens": 0}""", "The budget of 0 tokens is out of range")]
    [InlineData("""{"description": "Add an API", "budget_tokens": 1.5}""", "\"budget_tokens\" must be a whole number of tokens")]
    [InlineData("""{"description": "Add an API", "requirements": "one"}""", "\"requirements\" must be a list of strings")]
    [InlineData("""{"description": "Add an API", "domains": ["mobile"]}""", "Unknown domain 'mobile'")]
    [InlineData("""{"description": "make coffee"}""", "No domain matches this task")]
    [InlineData("""{"description": "Create user registration with form and API", "after": ["frontend:backend", "backend:frontend"]}""",
        "The domains' order has a cycle: backend after frontend after backend")]
    [InlineData("""{"description": "Add an API", "after": "frontend:backend"}""", "\"after\" must be a list of strings")]
    [InlineData("""{"description": "Add an API", "notify_url": "ftp://example.com/hook"}""", "is not an absolute http:// or https:// URL")]
    [InlineData("""{"description": "Add an API", "notify_url": "http://127.0.0.1:9/hook"}""", "no webhook secret")]
    public async Task Bad_input_is_refused_with_400_and_a_problem_naming_it(string body, string expected)
    {
        var response = await Http.PostAsync("/api/tasks", Json(body));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, expected);
    }

    [Theory]
    [InlineData("GET", "/api/tasks/no-such-task")]
    [InlineData("GET", "/api/tasks/no-such-task/events")]
    [InlineData("POST", "/api/tasks/no-such-task/cancel")]
    [InlineData("POST", "/api/tasks/no-such-task/retry")]
    public async Task An_unknown_task_is_404_with_a_problem(string method, string path)
    {
        var response = await Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? Json("") : null });

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "No task with id 'no-such-task'");
    }

    [Fact]
    public async Task Retrying_a_task_that_is_still_running_is_409()
    {
        File.WriteAllText(Path.Combine(web.Workspace, "hold"), "");
        try
        {
            var created = await Http.PostAsync("/api/tasks", Json("""{"description": "Add an API endpoint"}"""));
            var taskId = (string)(await created.Content.ReadFromJsonAsync<JsonNode>())!["task_id"]!;

            var response = await Http.PostAsync($"/api/tasks/{taskId}/retry", Json(""));

            await AssertProblemAsync(response, HttpStatusCode.Conflict, "");
        }
        finally
        {
            File.Delete(Path.Combine(web.Workspace, "hold"));
        }
    }

    [Fact]
    public async Task Domains_and_agents_list_the_network()
    {
        var domains = (await Http.GetFromJsonAsync<JsonArray>("/api/domains"))!;
        var agents = (await Http.GetFromJsonAsync<JsonArray>("/api/agents"))!;

        Assert.Equal(["backend", "frontend", "devops"], domains.Select(d => (string?)d!["domain_type"]));
        Assert.Contains(agents, a => (string?)a!["agent_id"] == "main-orchestrator" && (string?)a["role"] == "main" && (bool)a["healthy"]!);
    }

    [Fact]
    public async Task Health_live_and_ready_answer_200_when_the_silo_serves()
    {
        var live = await Http.GetAsync("/health/live");
        var ready = await Http.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_dashboard_the_task_view_and_the_metrics_are_served()
    {
        var dashboard = await Http.GetAsync("/dashboard/");
        var view = await Http.GetStringAsync("/");
        var metrics = await Http.GetStringAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Contains("<script src=\"app.js\"></script>", view);
        Assert.Contains("orchestrator_domains_spawned_total", metrics);
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(body)!;
        Assert.Equal((int)status, (int)problem["status"]!);
        Assert.Contains(expected, (string)problem["detail"]!);
        Assert.DoesNotContain("   at ", body);
    }
}
