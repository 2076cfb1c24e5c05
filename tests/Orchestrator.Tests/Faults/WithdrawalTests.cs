using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Core.Transport;
using Orchestrator.Redis;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

public sealed class WithdrawalTests
{
    [RedisFact]
    public async Task A_task_taken_back_from_a_worker_leaves_nothing_held_for_it()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new()
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Agent:Command"] = "exit 99",
        });
        cluster.StartExternalWorker("backend-0000h01d", "backend", new HangingAgentRunner(), TimeSpan.FromMilliseconds(200));
        var transport = (RedisWorkerTransport)cluster.Silo.GetRequiredService<IWorkerTransport>();
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        Assert.Equal(1, transport.HeldCount);

        await cluster.Client.CancelAsync(task.TaskId);

        await Eventually.TrueAsync(() => transport.HeldCount == 0, "the withdrawn task is still held by the worker's transport");
    }
}
