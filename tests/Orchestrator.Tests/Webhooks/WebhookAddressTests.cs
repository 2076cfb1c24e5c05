using System.Net;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Webhooks;
using Orchestrator.Grains.Webhooks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Webhooks;

/// <summary>The SSRF guard and the webhook settings, without a cluster.</summary>
public sealed class WebhookAddressTests
{
    [Theory]
    [InlineData("ftp://hooks.example.com/task")]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://hooks.example.com:70/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("hooks.example.com/task")]
    public void A_notify_url_that_is_not_absolute_http_is_refused_at_validation(string url)
    {
        var refused = Assert.Throws<InvalidTaskRequestException>(() =>
            Support.Routing.Validator().Validate(new TaskSubmission { Description = "Add an API endpoint", NotifyUrl = url }));

        Assert.Contains("is not an absolute http:// or https:// URL", refused.Message);
    }

    [Theory]
    [InlineData("127.0.0.1", false, "a loopback address")]
    [InlineData("::1", false, "a loopback address")]
    [InlineData("10.1.2.3", false, "a private address")]
    [InlineData("172.20.0.5", false, "a private address")]
    [InlineData("192.168.1.10", false, "a private address")]
    [InlineData("fd12::1", false, "a private address")]
    [InlineData("::ffff:127.0.0.1", false, "a loopback address")]
    [InlineData("169.254.10.1", true, "a link-local address")]
    [InlineData("fe80::1", true, "a link-local address")]
    [InlineData("169.254.169.254", true, "a cloud metadata address")]
    [InlineData("fd00:ec2::254", true, "a cloud metadata address")]
    [InlineData("0.0.0.0", true, "an unspecified address")]
    [InlineData("192.0.2.2", false, "a reserved address")]
    [InlineData("127.0.0.1", true, null)]
    [InlineData("10.1.2.3", true, null)]
    [InlineData("93.184.216.34", false, null)]
    [InlineData("2606:2800:220:1::1", false, null)]
    [InlineData("::1%1", false, "an address with a scope id")]
    [InlineData("::%1", true, "an address with a scope id")]
    [InlineData("fd00:ec2::254%1", true, "an address with a scope id")]
    [InlineData("fe80::1%1", true, "a link-local address")]
    public void Inside_addresses_are_refused_and_loopback_and_private_ones_only_unless_allowed(string address, bool allowPrivate, string? refusal)
    {
        Assert.Equal(refusal, WebhookAddress.Refusal(IPAddress.Parse(address), allowPrivate));
    }

    [Fact]
    public void The_url_shown_for_a_delivery_leaves_out_credentials_and_query()
    {
        Assert.Equal("https://hooks.example.com:8443/task?…", WebhookAddress.Redacted(new Uri("https://user:hunter2@hooks.example.com:8443/task?token=abc")));
    }

    [Fact]
    public async Task A_name_that_resolves_to_an_inside_address_is_refused_when_connecting()
    {
        // This machine's own name resolves to its own addresses, loopback or private among them, and one refused
        // address refuses the name. The submit-time check cannot know what a name will resolve to later; the
        // connection resolves it itself and connects only to what it checked.
        var host = Dns.GetHostName();
        var addresses = await Dns.GetHostAddressesAsync(host);
        Assert.True(addresses.Any(a => WebhookAddress.Refusal(a, allowPrivateNetworks: false) is not null),
            $"precondition: {host} resolves to an inside address ({string.Join(", ", addresses.Select(a => a.ToString()))})");
        await using var receiver = WebhookReceiver.Start(200);
        var options = Options.Create(new WebhookOptions { Secret = "test-webhook-secret-0123456789" });
        using var sender = new WebhookSender(options, new WebhookSecret(options), TimeProvider.System);

        var result = await sender.SendAsync($"http://{host}:{receiver.Port}/hook", Guid.NewGuid().ToString(), WebhookSignature.TaskFinished, "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal(WebhookOutcome.Final, result.Outcome);
        Assert.Contains("points to", result.Error);
        Assert.Empty(receiver.All);
    }

    [Fact]
    public async Task A_redirect_is_not_followed_and_ends_the_delivery()
    {
        await using var receiver = WebhookReceiver.Start(302);
        var options = Options.Create(new WebhookOptions { Secret = "test-webhook-secret-0123456789", AllowPrivateNetworks = true });
        using var sender = new WebhookSender(options, new WebhookSecret(options), TimeProvider.System);

        var result = await sender.SendAsync(receiver.Url, Guid.NewGuid().ToString(), WebhookSignature.TaskFinished, "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal((WebhookOutcome.Final, 302), (result.Outcome, result.StatusCode));
        Assert.Single(receiver.All);
    }

    [Theory]
    [InlineData(null, null, "https://hooks.example.com/task", "Webhooks:DefaultUrl is set but no webhook secret is")]
    [InlineData("short", null, null, "shorter than 16 bytes")]
    [InlineData(null, "/nonexistent/webhook-secret", null, "Webhooks:SecretFile '/nonexistent/webhook-secret' cannot be read")]
    [InlineData("test-webhook-secret-0123456789", null, "http://127.0.0.1/hook", "Webhooks:DefaultUrl: The notify URL 'http://127.0.0.1/hook' points to a loopback address")]
    public void Webhook_settings_that_cannot_work_stop_the_start_naming_the_setting(string? secret, string? secretFile, string? defaultUrl, string expected)
    {
        var result = new WebhookOptionsValidator().Validate(null, new WebhookOptions { Secret = secret, SecretFile = secretFile, DefaultUrl = defaultUrl });

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage);
        Assert.DoesNotContain("test-webhook-secret", result.FailureMessage);
    }

    [Fact]
    public void A_secret_file_supplies_the_secret_without_its_trailing_newline()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("secret"), "test-webhook-secret-0123456789\n");
        var options = new WebhookOptions { SecretFile = dir.File("secret"), DefaultUrl = "https://hooks.example.com/task" };

        Assert.True(new WebhookOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal("test-webhook-secret-0123456789"u8.ToArray(), options.ReadSecret());
    }
}
