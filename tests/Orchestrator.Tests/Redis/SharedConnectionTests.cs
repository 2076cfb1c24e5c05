using System.Net.Http.Json;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Redis;

public sealed class SharedConnectionTests
{
    [RedisFact]
    public async Task A_silo_uses_one_redis_multiplexer_for_storage_membership_reminders_and_the_wire_protocol()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var server = redis.Connection.GetServer(redis.Connection.GetEndPoints()[0]);
        var before = (await server.ClientListAsync()).Length;

        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Command"] = "demo",
        });
        using var http = silo.CreateHttpClient();
        (await http.PostAsJsonAsync("/api/tasks", new { description = "Add an API endpoint" })).EnsureSuccessStatusCode();

        // One multiplexer: its interactive connection and its subscription connection.
        Assert.Equal(2, (await server.ClientListAsync()).Length - before);
    }
}
