using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Redis;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Security;

/// <summary>
/// The ACL users of <c>docker/make-redis-acl.sh</c> on a real redis-server: a silo process as <c>orchestrator</c>,
/// the worker program as <c>worker-backend</c>, and what that worker's user is refused.
/// </summary>
public sealed class RedisAclTests(RedisAclNetwork network) : IClassFixture<RedisAclNetwork>
{
    [RedisFact]
    public async Task The_worker_with_its_domain_user_serves_a_task_of_its_domain()
    {
        var submitted = await network.Connection.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        var result = await network.Connection.Client.WaitForResultAsync(submitted.TaskId).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(TaskState.Completed, result.State);
        Assert.True(RedisAclNetwork.WorkerId == result.Subtasks.Single().AgentId, network.WorkerOutput + "\n-----\n" + network.SiloOutput);
    }

    [RedisFact]
    public async Task A_worker_user_can_neither_read_nor_write_orleans_membership_state_or_reminders()
    {
        await using var worker = await network.ConnectAsync("worker-backend");
        var submitted = await network.Connection.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await network.Connection.Client.WaitForResultAsync(submitted.TaskId).WaitAsync(TimeSpan.FromSeconds(60));
        var orleansKeys = network.Redis.Connection.GetServer(network.Redis.Connection.GetEndPoints()[0])
            .Keys(pattern: "orchestrator/*").Select(k => k.ToString()).ToArray();

        Assert.Contains(orleansKeys, k => k.Contains("/members"));
        Assert.Contains(orleansKeys, k => k.Contains("/state/"));
        foreach (var key in orleansKeys)
        {
            var read = await Assert.ThrowsAsync<RedisServerException>(() => worker.GetDatabase().HashGetAllAsync(key));
            var write = await Assert.ThrowsAsync<RedisServerException>(() => worker.GetDatabase().HashSetAsync(key, "forged", "1"));
            Assert.StartsWith("NOPERM", read.Message);
            Assert.StartsWith("NOPERM", write.Message);
        }
    }

    [RedisFact]
    public async Task A_worker_user_cannot_touch_another_domains_queue_or_channel()
    {
        await using var worker = await network.ConnectAsync("worker-backend");
        var db = worker.GetDatabase();

        var push = await Assert.ThrowsAsync<RedisServerException>(() => db.ListRightPushAsync("tasks:pending:frontend", "{}"));
        var take = await Assert.ThrowsAsync<RedisServerException>(() => db.ListRightPopLeftPushAsync("tasks:pending:frontend", "tasks:active:frontend"));
        var listen = await Assert.ThrowsAsync<RedisServerException>(() =>
            worker.GetSubscriber().SubscribeAsync(RedisChannel.Literal("notifications:frontend"), (_, _) => { }));

        Assert.StartsWith("NOPERM", push.Message);
        Assert.StartsWith("NOPERM", take.Message);
        Assert.StartsWith("NOPERM", listen.Message);
    }

    [RedisFact]
    public async Task Its_own_domain_queue_is_open_to_the_worker_user()
    {
        await using var worker = await network.ConnectAsync("worker-backend");

        var taken = await worker.GetDatabase().ListRightPopLeftPushAsync("tasks:pending:backend", "tasks:active:backend");

        Assert.True(taken.IsNull);
    }
}

/// <summary>redis-server with the generated ACL file, a silo process as <c>orchestrator</c>, the worker program as <c>worker-backend</c>.</summary>
public class RedisAclNetwork : IAsyncLifetime
{
    public const string WorkerId = "backend-acl00001";

    private readonly TempDirectory _dir = new("acl-network");
    private SiloProcess? _silo;
    private WorkerProcess? _worker;

    public RedisServer Redis { get; private set; } = null!;

    public OrchestratorConnection Connection { get; private set; } = null!;

    public string WorkerOutput => _worker!.Output;

    public string SiloOutput => _silo!.Output;

    /// <summary>Whether Redis speaks TLS only (rediss:// everywhere).</summary>
    protected virtual bool Tls => false;

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync(await RedisAcl.MakeAsync(), Tls ? await DevCertificates.MakeAsync() : null);
        var workspace = Directory.CreateDirectory(_dir.File("workspace")).FullName;
        _worker = WorkerProcess.Start(new Dictionary<string, string>
        {
            ["REDIS_URL"] = Redis.Url("worker-backend"),
            ["DOMAIN_TYPE"] = "backend",
            ["AGENT_ID"] = WorkerId,
            ["WORKSPACE"] = workspace,
            ["AGENT_COMMAND"] = "demo",
            ["HEARTBEAT_INTERVAL_SECONDS"] = "1",
        });
        await _worker.RegisteredAsync();
        _silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = Redis.ConnectionString,
            ["Domains:Workspace"] = workspace,
            ["Domains:Agent:Command"] = "demo",
        });
        Connection = await _silo.ConnectAsync(Redis.ConnectionString);
    }

    /// <summary>A connection as <paramref name="user"/>, with the password from its generated file.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string user) => ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(Redis.Url(user)));

    public async Task DisposeAsync()
    {
        await Connection.DisposeAsync();
        await _silo!.DisposeAsync();
        await _worker!.DisposeAsync();
        await Redis.DisposeAsync();
        _dir.Dispose();
    }
}
