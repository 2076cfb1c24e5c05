using System.Net;
using System.Text;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Web;

/// <summary>The per-credential limits of Web:Limits, on a real silo with small ones.</summary>
public sealed class WebLimitsTests
{
    [Fact]
    public async Task Submissions_beyond_the_limit_per_minute_get_429_with_retry_after()
    {
        using var dir = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:Limits:SubmissionsPerMinute"] = "3",
        });
        using var http = silo.CreateHttpClient();
        // Refused by validation (no domain matches), yet each one counts as a submission.
        HttpContent Submission() => new StringContent("""{"description": "make coffee"}""", Encoding.UTF8, "application/json");

        var allowed = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            allowed.Add((await http.PostAsync("/api/tasks", Submission())).StatusCode);
        }

        var refused = await http.PostAsync("/api/tasks", Submission());

        Assert.Equal([HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.BadRequest], allowed);
        await HttpBoundaryTests.AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "Web:Limits:SubmissionsPerMinute");
        Assert.InRange(refused.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
    }

    [Fact]
    public async Task Event_streams_beyond_the_cap_per_credential_get_429()
    {
        using var dir = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:Limits:EventStreamsPerCredential"] = "2",
        });
        using var http = silo.CreateHttpClient();
        using var first = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
        using var second = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);

        using var third = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await HttpBoundaryTests.AssertProblemAsync(third, HttpStatusCode.TooManyRequests, "Web:Limits:EventStreamsPerCredential");
    }

    [Fact]
    public async Task A_closed_event_stream_frees_its_place()
    {
        using var dir = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:Limits:EventStreamsPerCredential"] = "1",
        });
        using var http = silo.CreateHttpClient();
        using (var first = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        await Eventually.TrueAsync(async () =>
        {
            using var again = await http.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, "the closed stream still counts against the cap");
    }
}
