using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Webhooks;

/// <summary>A webhook delivery kept in Redis across a silo that dies: real silo processes on a real redis-server.</summary>
public sealed class WebhookRestartTests
{
    [RedisFact]
    public async Task A_delivery_pending_when_its_silo_is_killed_arrives_after_the_restart_with_the_same_delivery_id()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        await using var receiver = WebhookReceiver.Start(500);
        var settings = new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Web:TokenFile"] = dir.File("token"),
            ["Webhooks:Secret"] = "test-webhook-secret-0123456789",
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:Retry:MaxAttempts"] = "1000",
            ["Webhooks:Retry:InitialBackoff"] = "00:00:00.500",
            ["Webhooks:Retry:MaxBackoff"] = "00:00:01",
        };
        string taskId;
        var silo = await SiloProcess.StartAsync(settings);
        await using (silo)
        {
            await using var connection = await silo.ConnectAsync(redis.ConnectionString);
            taskId = (await connection.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", NotifyUrl = receiver.Url })).TaskId;
            await receiver.NextAsync(seconds: 60); // the first attempt, answered 500
            // Killed once that attempt's outcome is stored (else the attempt after the restart could be its first on record).
            await Eventually.TrueAsync(async () => (await connection.Client.GetDeliveriesAsync(taskId)).SingleOrDefault() is { Attempts: >= 1, LastStatusCode: 500 },
                "the first attempt's outcome was never stored", seconds: 30);
            await silo.KillAsync();
        }

        var firstId = receiver.All[0].Header("X-Orchestrator-Delivery");
        receiver.AnswerFromNowOn(200);
        await using var restarted = await SiloProcess.StartAsync(settings, restartOf: silo);
        // Nothing touches the task: only the delivery's reminder can bring it back (its period is a minute).
        ReceivedWebhook delivered;
        do
        {
            delivered = await receiver.NextAsync(seconds: 150);
        }
        while (delivered.Answered != 200);

        await using var again = await restarted.ConnectAsync(redis.ConnectionString);
        var delivery = Assert.Single(await again.Client.GetDeliveriesAsync(taskId));
        Assert.Equal(firstId, delivered.Header("X-Orchestrator-Delivery"));
        Assert.Equal(WebhookDeliveryState.Delivered, delivery.State);
        Assert.Equal(firstId, delivery.DeliveryId);
        // At least the stored 500 and the 200; more when further attempts went out before the kill.
        Assert.True(delivery.Attempts >= 2, $"attempts {delivery.Attempts}");
    }
}
