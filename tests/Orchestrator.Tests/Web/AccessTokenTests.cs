using System.Net;
using Orchestrator.Client;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Web;

/// <summary>The access token file (<see cref="AccessTokenFile"/>) and the silos that use it.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class AccessTokenTests
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public void A_new_token_file_is_made_readable_by_its_user_alone_in_a_private_folder()
    {
        using var dir = new TempDirectory();
        var path = dir.File("state/orchestrator/token");

        var token = AccessTokenFile.LoadOrCreate(path);

        Assert.Matches("^[A-Za-z0-9_-]{43}$", token); // 32 random bytes, base64url
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(OwnerOnly | UnixFileMode.UserExecute, File.GetUnixFileMode(dir.File("state/orchestrator")));
        Assert.Equal(token, AccessTokenFile.TryRead(path));
    }

    [Fact]
    public void An_existing_token_file_is_reused()
    {
        using var dir = new TempDirectory();
        var first = AccessTokenFile.LoadOrCreate(dir.File("token"));

        var second = AccessTokenFile.LoadOrCreate(dir.File("token"));

        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Parallel_creators_all_end_up_with_the_same_token()
    {
        using var dir = new TempDirectory();
        using var start = new Barrier(8);

        var tokens = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            return AccessTokenFile.LoadOrCreate(dir.File("token"));
        })));

        Assert.Single(tokens.Distinct());
        Assert.Equal(["token"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_token_file_others_may_read_is_refused_naming_the_fix()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("token"), "shared-token\n");
        File.SetUnixFileMode(dir.File("token"), OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var refusal = Assert.Throws<InvalidOperationException>(() => AccessTokenFile.LoadOrCreate(dir.File("token")));

        Assert.Contains($"run `chmod 600 {dir.File("token")}`", refusal.Message);
    }

    [Fact]
    public void A_token_file_that_is_a_symbolic_link_is_refused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("elsewhere"), "token\n");
        File.SetUnixFileMode(dir.File("elsewhere"), OwnerOnly);
        File.CreateSymbolicLink(dir.File("token"), dir.File("elsewhere"));

        var refusal = Assert.Throws<InvalidOperationException>(() => AccessTokenFile.LoadOrCreate(dir.File("token")));

        Assert.Contains("is not a regular file", refusal.Message);
    }

    [Fact]
    public void A_missing_token_file_reads_as_none()
    {
        using var dir = new TempDirectory();

        Assert.Null(AccessTokenFile.TryRead(dir.File("no/such/token")));
    }

    [Fact]
    public async Task A_silo_refuses_to_start_with_a_token_file_of_mode_0644()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("token"), "shared-token\n");
        File.SetUnixFileMode(dir.File("token"), OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var start = await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(() => SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Domains:Workspace"] = dir.Path,
            ["Web:TokenFile"] = dir.File("token"),
        }));

        Assert.Contains($"may be read or written by other users (mode 644): run `chmod 600 {dir.File("token")}`", start.Message);
    }

    [Fact]
    public async Task Two_silos_sharing_a_token_file_accept_the_same_token()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var settings = new Dictionary<string, string> { ["Domains:Workspace"] = dir.File("workspace"), ["Web:TokenFile"] = dir.File("state/token") };
        await using var first = await SiloProcess.StartAsync(settings);
        await using var second = await SiloProcess.StartAsync(settings);
        using var http = second.CreateHttpClient();
        http.DefaultRequestHeaders.Remove("X-Api-Key");
        http.DefaultRequestHeaders.Add("X-Api-Key", first.AccessToken);

        var response = await http.GetAsync("/api/tasks");

        Assert.Equal(first.AccessToken, second.AccessToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_silo_on_the_access_token_prints_the_link_that_opens_the_task_view_and_the_token_file()
    {
        using var dir = new TempDirectory();

        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string> { ["Domains:Workspace"] = dir.Path });

        Assert.Contains($"{silo.WebAddress}?token={silo.AccessToken}", silo.Output);
        Assert.Contains(silo.TokenFile, silo.Output);
    }
}
