using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Webhooks;

/// <summary>Signed webhooks end to end: an orchestrator test cluster posting to a receiver on 127.0.0.1.</summary>
public sealed class WebhookDeliveryTests
{
    private const string Secret = "test-webhook-secret-0123456789";

    /// <summary>A secret, loopback allowed (the receiver is on 127.0.0.1), and short backoff.</summary>
    private static Dictionary<string, string?> Settings(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Webhooks:Secret"] = Secret,
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:Retry:InitialBackoff"] = "00:00:00.050",
            ["Webhooks:Retry:MaxBackoff"] = "00:00:00.200",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    private static TaskSubmission Task(string notifyUrl) => new() { Description = "Add an API endpoint", NotifyUrl = notifyUrl };

    /// <summary>What a receiver does (README): HMAC-SHA256 over "{timestamp}." + the body bytes, compared in constant time.</summary>
    private static void AssertSigned(ReceivedWebhook webhook)
    {
        var timestamp = webhook.Header("X-Orchestrator-Timestamp");
        var signed = Encoding.ASCII.GetBytes(timestamp + ".").Concat(webhook.Body).ToArray();
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), signed));
        Assert.True(CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(webhook.Header("X-Orchestrator-Signature-256"))),
            "the signature does not verify");
        var age = DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeSeconds(long.Parse(timestamp, CultureInfo.InvariantCulture));
        Assert.True(age < TimeSpan.FromMinutes(1), $"timestamp {timestamp} is {age} old");
    }

    private static async Task<IReadOnlyList<WebhookDelivery>> FinishedDeliveriesAsync(OrchestratorCluster cluster, string taskId)
    {
        var final = await cluster.ResultAsync(taskId);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await cluster.Client.WaitForDeliveryAsync(final, cancellationToken: bound.Token);
    }

    [Fact]
    public async Task A_finished_task_posts_its_result_to_the_notify_url_signed_with_the_secret()
    {
        await using var receiver = WebhookReceiver.Start(200);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings());

        var taskId = (await cluster.Client.SubmitAsync(Task(receiver.Url))).TaskId;
        var final = await cluster.ResultAsync(taskId);
        var webhook = await receiver.NextAsync();

        AssertSigned(webhook);
        Assert.True(Guid.TryParse(webhook.Header("X-Orchestrator-Delivery"), out _));
        Assert.Equal("task.finished", webhook.Header("X-Orchestrator-Event"));
        Assert.StartsWith("application/json", webhook.Header("Content-Type"));
        Assert.True(JsonNode.DeepEquals(ResultAggregator.ToResultJson(final), JsonNode.Parse(webhook.Body)), Encoding.UTF8.GetString(webhook.Body));
        var delivery = Assert.Single(await FinishedDeliveriesAsync(cluster, taskId));
        Assert.Equal((WebhookDeliveryState.Delivered, 1, 200), (delivery.State, delivery.Attempts, delivery.LastStatusCode));
        Assert.Equal(webhook.Header("X-Orchestrator-Delivery"), delivery.DeliveryId);
        Assert.Equal(receiver.Url, delivery.Url);
    }

    [Fact]
    public async Task A_task_that_names_no_notify_url_is_reported_to_the_configured_default()
    {
        await using var receiver = WebhookReceiver.Start(200);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings(new() { ["Webhooks:DefaultUrl"] = receiver.Url }));

        var taskId = (await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId;
        var webhook = await receiver.NextAsync();

        AssertSigned(webhook);
        Assert.Equal(taskId, (string?)JsonNode.Parse(webhook.Body)!["task_id"]);
        Assert.Equal(receiver.Url, (await cluster.Client.GetAsync(taskId)).NotifyUrl);
    }

    [Fact]
    public async Task Credentials_in_the_notify_url_are_sent_as_basic_auth_and_shown_nowhere()
    {
        await using var receiver = WebhookReceiver.Start(200);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings());
        var url = receiver.Url.Replace("http://", "http://hook-user:hook%20pw@") + "?token=query-secret";

        var taskId = (await cluster.Client.SubmitAsync(Task(url))).TaskId;
        var webhook = await receiver.NextAsync();
        var view = await cluster.Client.GetAsync(taskId);
        var delivery = Assert.Single(await FinishedDeliveriesAsync(cluster, taskId));

        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("hook-user:hook pw")), webhook.Header("Authorization"));
        Assert.Equal(receiver.Url + "?…", view.NotifyUrl);
        Assert.Equal(receiver.Url + "?…", delivery.Url);
    }

    [Fact]
    public async Task A_failing_receiver_is_retried_with_the_same_delivery_id_until_it_answers_2xx()
    {
        await using var receiver = WebhookReceiver.Start(500, 503, 500, 200);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings());

        var taskId = (await cluster.Client.SubmitAsync(Task(receiver.Url))).TaskId;
        var attempts = new[] { await receiver.NextAsync(), await receiver.NextAsync(), await receiver.NextAsync(), await receiver.NextAsync() };
        var delivery = Assert.Single(await FinishedDeliveriesAsync(cluster, taskId));

        Assert.Equal([500, 503, 500, 200], attempts.Select(a => a.Answered));
        Assert.Single(attempts.Select(a => a.Header("X-Orchestrator-Delivery")).Distinct());
        Assert.All(attempts, AssertSigned);
        Assert.Equal((WebhookDeliveryState.Delivered, 4, 200), (delivery.State, delivery.Attempts, delivery.LastStatusCode));
    }

    [Fact]
    public async Task A_4xx_answer_ends_the_delivery_as_failed_without_another_attempt()
    {
        await using var receiver = WebhookReceiver.Start(404);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings());

        var taskId = (await cluster.Client.SubmitAsync(Task(receiver.Url))).TaskId;
        var delivery = Assert.Single(await FinishedDeliveriesAsync(cluster, taskId));

        Assert.Equal((WebhookDeliveryState.Failed, 1, 404), (delivery.State, delivery.Attempts, delivery.LastStatusCode));
        Assert.Single(receiver.All);
    }

    [Fact]
    public async Task A_delivery_gives_up_after_its_configured_attempts()
    {
        await using var receiver = WebhookReceiver.Start(500);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => Settings(new() { ["Webhooks:Retry:MaxAttempts"] = "3" }));

        var taskId = (await cluster.Client.SubmitAsync(Task(receiver.Url))).TaskId;
        var delivery = Assert.Single(await FinishedDeliveriesAsync(cluster, taskId));

        Assert.Equal((WebhookDeliveryState.Failed, 3, 500), (delivery.State, delivery.Attempts, delivery.LastStatusCode));
        Assert.Equal(3, receiver.All.Count);
    }

    [Fact]
    public async Task A_loopback_notify_url_is_refused_at_submit_by_default()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Webhooks:Secret"] = Secret });

        var refused = await Assert.ThrowsAsync<InvalidTaskRequestException>(() => cluster.Client.SubmitAsync(Task("http://127.0.0.1:9/hook")));
        var named = await Assert.ThrowsAsync<InvalidTaskRequestException>(() => cluster.Client.SubmitAsync(Task("http://localhost:9/hook")));

        Assert.Contains("loopback", refused.Message);
        Assert.Contains("Webhooks:AllowPrivateNetworks", refused.Message);
        Assert.Contains("loopback", named.Message);
    }

    [Fact]
    public async Task A_notify_url_is_refused_when_the_orchestrator_has_no_webhook_secret()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Webhooks:AllowPrivateNetworks"] = "true" });

        var refused = await Assert.ThrowsAsync<InvalidTaskRequestException>(() => cluster.Client.SubmitAsync(Task("http://127.0.0.1:9/hook")));

        Assert.Contains("Webhooks:Secret", refused.Message);
    }
}
