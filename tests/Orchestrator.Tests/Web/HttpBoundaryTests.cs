using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Web;

/// <summary>A real silo program with the default web settings: no API key, so a generated access token.</summary>
public sealed class DefaultWebSilo : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();

    public SiloProcess Silo { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Silo = await SiloProcess.StartAsync(new Dictionary<string, string> { ["Domains:Workspace"] = _dir.Path });

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>
/// What a web page in the user's browser, or a client without the token, can do to a silo with default settings:
/// nothing. No request here creates a task, which the last check of each test confirms.
/// </summary>
public sealed class HttpBoundaryTests(DefaultWebSilo web) : IClassFixture<DefaultWebSilo>
{
    private const string Task = """{"description": "Create user registration with form and API"}""";
    private const string Policy = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    private SiloProcess Silo => web.Silo;

    /// <summary>Without following redirects or keeping cookies: the tests look at both themselves.</summary>
    private HttpClient Anonymous() => new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = Silo.WebAddress };

    [Theory]
    [InlineData("text/plain", null, HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/x-www-form-urlencoded", null, HttpStatusCode.UnsupportedMediaType)]
    [InlineData("multipart/form-data; boundary=x", null, HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/json", "http://evil.example", HttpStatusCode.Forbidden)]
    [InlineData("application/json", "null", HttpStatusCode.Forbidden)]
    public async Task A_cross_origin_post_is_refused_and_creates_no_task(string contentType, string? origin, HttpStatusCode expected)
    {
        using var http = Anonymous();
        // What another page can make the browser send: no X-Api-Key header, but with the token a foreign origin is refused all the same.
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = new StringContent(Task, Encoding.UTF8) };
        request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        request.Headers.Add("X-Api-Key", Silo.AccessToken);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        var response = await http.SendAsync(request);

        await AssertProblemAsync(response, expected, origin is null ? "Content-Type: application/json" : $"Requests from pages of {origin} are refused");
        await AssertNoTaskAsync();
    }

    [Fact]
    public async Task A_post_naming_a_foreign_host_is_refused_and_creates_no_task()
    {
        using var http = Silo.CreateHttpClient();
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = new StringContent(Task, Encoding.UTF8, "application/json") };
        request.Headers.Host = $"rebound.example:{Silo.WebPort}"; // a page whose DNS name now points at 127.0.0.1
        request.Headers.Add("Origin", $"http://rebound.example:{Silo.WebPort}");

        var response = await http.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "not 'rebound.example'. If users reach it by another name, add that name to Web:AllowedHosts");
        await AssertNoTaskAsync();
    }

    [Theory]
    [InlineData("/api/tasks")]
    [InlineData("/")]
    [InlineData("/dashboard/")]
    public async Task Without_the_token_a_request_gets_401(string path)
    {
        using var http = Anonymous();

        var response = await http.GetAsync(path);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "send the X-Api-Key header");
    }

    [Fact]
    public async Task Without_the_token_a_post_gets_401_and_creates_no_task()
    {
        using var http = Anonymous();

        var response = await http.PostAsync("/api/tasks", new StringContent(Task, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "send the X-Api-Key header");
        await AssertNoTaskAsync();
    }

    [Fact]
    public async Task The_health_endpoints_need_no_token()
    {
        using var http = Anonymous();

        var live = await http.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task With_the_token_header_a_post_reaches_the_api()
    {
        using var http = Silo.CreateHttpClient();

        var response = await http.PostAsync("/api/tasks/no-such-task/cancel", new StringContent("", Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "No task with id 'no-such-task'");
    }

    [Fact]
    public async Task The_token_link_sets_a_strict_http_only_session_cookie_and_redirects_to_the_address_without_it()
    {
        using var http = Anonymous();

        var response = await http.GetAsync($"/?token={Silo.AccessToken}&view=tasks");

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/?view=tasks", response.Headers.Location?.OriginalString);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("orchestrator-session=", cookie);
        Assert.DoesNotContain(Silo.AccessToken, cookie); // the cookie is not the token itself
        Assert.Equal(["httponly", "path=/", "samesite=strict"], cookie.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).Order());
        var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/tasks") { Headers = { { "Cookie", cookie.Split(';')[0] } } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(withCookie)).StatusCode);
    }

    [Fact]
    public async Task A_wrong_token_link_gets_401_and_no_cookie()
    {
        using var http = Anonymous();

        var response = await http.GetAsync("/?token=guess");

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "The token in this link is not this orchestrator's");
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task The_session_cookie_alone_cannot_post()
    {
        using var http = Anonymous();
        var link = await http.GetAsync($"/?token={Silo.AccessToken}");
        var cookie = link.Headers.GetValues("Set-Cookie").Single().Split(';')[0];
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = new StringContent(Task, Encoding.UTF8, "application/json") };
        request.Headers.Add("Cookie", cookie);
        request.Headers.Add("Origin", Silo.WebAddress.GetLeftPart(UriPartial.Authority)); // even from the task view's own origin

        var response = await http.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized, "A state change needs the X-Api-Key header");
        await AssertNoTaskAsync();
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/app.js")]
    [InlineData("/api/tasks")]
    [InlineData("/api/tasks/no-such-task")]
    public async Task The_task_view_and_the_api_carry_the_security_headers(string path)
    {
        using var http = Silo.CreateHttpClient();

        var response = await http.GetAsync(path);

        Assert.Equal(Policy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [Fact]
    public async Task The_task_view_has_no_inline_script_or_style()
    {
        using var http = Silo.CreateHttpClient();

        var page = await http.GetStringAsync("/");

        Assert.DoesNotMatch("<script(?![^>]*\\bsrc=)", page);
        Assert.DoesNotContain("<style", page);
        Assert.DoesNotContain("style=", page);
        Assert.DoesNotMatch("\\son[a-z]+=", page);
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_gets_413_without_being_read_whole()
    {
        // A raw connection: HttpClient gives up on the response once the silo stops reading the body.
        using var connection = new TcpClient();
        await connection.ConnectAsync(IPAddress.Loopback, Silo.WebPort);
        var stream = connection.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1:{Silo.WebPort}\r\nX-Api-Key: {Silo.AccessToken}\r\n"
            + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\n{\"description\": \"aaaaaaaaa\r\n"));
        var response = ReadToEndAsync(stream);
        var piece = Encoding.ASCII.GetBytes($"4000\r\n{new string('a', 16 * 1024)}\r\n");
        var sent = 0;
        try
        {
            while (sent < 1024 * 1024 && !response.IsCompleted)
            {
                await stream.WriteAsync(piece);
                sent += 16 * 1024;
                await System.Threading.Tasks.Task.Delay(10);
            }
        }
        catch (IOException)
        {
            // The silo closed the connection after its answer.
        }

        var answer = await response.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.StartsWith("HTTP/1.1 413", answer);
        Assert.Contains("application/problem+json", answer);
        Assert.Contains("The max request body size is 262144 bytes. (Web:Limits:MaxRequestBodyBytes)", answer);
        Assert.True(sent < 1024 * 1024, "the silo kept reading the body");
        await AssertNoTaskAsync();
    }

    private static async Task<string> ReadToEndAsync(NetworkStream stream)
    {
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // Reset after the answer: what arrived is the answer.
        }

        return Encoding.UTF8.GetString(received.ToArray());
    }

    private async Task AssertNoTaskAsync()
    {
        using var http = Silo.CreateHttpClient();
        Assert.Empty((await http.GetFromJsonAsync<JsonArray>("/api/tasks"))!);
    }

    internal static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, (string)JsonNode.Parse(body)!["detail"]!);
    }
}
