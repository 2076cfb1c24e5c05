using System.Net;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Web;

/// <summary>The configured API key of the HTTP API, and the rule that without one the silo listens on loopback only.</summary>
public sealed class ApiKeyTests
{
    [Fact]
    public async Task With_a_key_configured_api_calls_need_it_and_health_checks_do_not()
    {
        using var dir = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:ApiKey"] = "s3cret-key",
        });
        using var http = new HttpClient { BaseAddress = silo.WebAddress };

        var without = await http.GetAsync("/api/agents");
        var wrong = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/agents") { Headers = { { "X-Api-Key", "guess" } } });
        var with = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/agents") { Headers = { { "X-Api-Key", "s3cret-key" } } });
        var health = await http.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Contains("X-Api-Key", await without.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, with.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Without_a_key_listening_beyond_loopback_stops_the_silo_at_start_with_the_reason()
    {
        using var dir = new TempDirectory();

        var start = await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(() => SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:Urls"] = "http://0.0.0.0:18080",
        }));

        Assert.Contains("listens beyond 127.0.0.1 without an API key: set Web:ApiKey", start.Message);
    }

    [Fact]
    public async Task Without_a_key_a_kestrel_endpoint_beyond_loopback_stops_the_silo_after_start_with_the_reason()
    {
        using var dir = new TempDirectory();

        var start = await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(() => SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Kestrel:Endpoints:Beyond:Url"] = $"http://0.0.0.0:{Orchestrator.Hosting.OrchestratorSiloHost.FreePort()}",
        }));

        Assert.Contains("The web server listens beyond loopback (http://0.0.0.0:", start.Message);
        Assert.Contains("without an API key: set Web:ApiKey (Web__ApiKey), or listen on http://127.0.0.1 only", start.Message);
    }

    [Fact]
    public async Task With_a_key_configured_the_key_link_sets_the_session_cookie()
    {
        using var dir = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:ApiKey"] = "s3cret-key",
        });
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = silo.WebAddress };

        var link = await http.GetAsync("/?key=s3cret-key");

        Assert.Equal(HttpStatusCode.SeeOther, link.StatusCode);
        Assert.Equal("/", link.Headers.Location?.OriginalString);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/agents")).StatusCode); // the handler keeps the cookie
    }
}
