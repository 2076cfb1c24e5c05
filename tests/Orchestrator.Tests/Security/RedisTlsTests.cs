using Orchestrator.Contracts;
using Orchestrator.Redis;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Security;

/// <summary>
/// rediss:// in every place that takes a Redis address: a redis-server on a TLS port only, its certificate from a
/// private CA trusted through <c>ssl_ca_certs</c>; the silo, the client's gateway discovery and the worker on it.
/// </summary>
public sealed class RedisTlsTests(RedisTlsNetwork network) : IClassFixture<RedisTlsNetwork>
{
    [RedisFact]
    public async Task A_silo_a_worker_and_a_client_on_rediss_complete_a_task()
    {
        var submitted = await network.Connection.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await network.Connection.Client.WaitForResultAsync(submitted.TaskId).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.StartsWith("rediss://", network.Redis.ConnectionString);
        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(RedisAclNetwork.WorkerId, result.Subtasks.Single().AgentId);
    }

    [RedisFact]
    public async Task A_client_that_does_not_trust_the_private_ca_is_refused()
    {
        var untrusted = network.Redis.Url("orchestrator").Split('&')[0]; // password_file only, no ssl_ca_certs

        var refused = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisConnection.ConnectAsync(untrusted, TimeSpan.FromSeconds(2)));

        Assert.Contains("did not answer", refused.Message);
    }

    [Fact]
    public void A_missing_ca_file_is_named_in_the_error()
    {
        var error = Assert.Throws<ArgumentException>(() => RedisConnection.Parse("rediss://127.0.0.1:6380/0?ssl_ca_certs=/nonexistent/ca.pem"));

        Assert.Contains("ssl_ca_certs '/nonexistent/ca.pem'", error.Message);
    }
}

public sealed class RedisTlsNetwork : RedisAclNetwork
{
    protected override bool Tls => true;
}
