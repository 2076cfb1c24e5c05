using System.Collections.Concurrent;
using Orchestrator.Redis;
using StackExchange.Redis;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>
/// Injects faults into a <see cref="FaultNetwork"/> one after another, in shuffled rounds so that every kind comes up
/// in every round: SIGKILL of a silo, of a worker and of an agent; a silo and Redis frozen (SIGSTOP) past failure
/// detection and heartbeat TTL; Redis killed and restarted from its append-only file; and result and start
/// notifications published again, duplicated and out of order. After a fault, what a supervisor would restart is restarted.
/// </summary>
public sealed class Nemesis(FaultNetwork network, Random random)
{
    private readonly ConcurrentQueue<(RedisChannel Channel, RedisValue Message)> _heard = new();

    /// <summary>How many faults of each kind were injected.</summary>
    public ConcurrentDictionary<string, int> Injected { get; } = new();

    public async Task RunAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        await ListenToNotificationsAsync();
        var faults = new (string Name, Func<Task> Inject)[]
        {
            ("silo killed and restarted", KillSiloAsync),
            ("silo frozen past failure detection", FreezeSiloAsync),
            ("worker killed and restarted under its id", KillWorkerAsync),
            ("agent killed", KillAgentAsync),
            ("redis killed and restarted from its AOF", RestartRedisAsync),
            ("redis frozen past the heartbeat TTL", FreezeRedisAsync),
            ("notifications duplicated and reordered", ReplayNotificationsAsync),
        };
        var until = DateTime.UtcNow + duration;
        do
        {
            foreach (var (name, inject) in faults.OrderBy(_ => random.Next()).ToArray())
            {
                cancellationToken.ThrowIfCancellationRequested();
                await inject();
                Injected.AddOrUpdate(name, 1, (_, n) => n + 1);
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1000, 3000)), cancellationToken);
            }
        }
        while (DateTime.UtcNow < until);
    }

    private int AnySilo() => random.Next(network.SiloCount);

    private async Task KillSiloAsync()
    {
        var silo = AnySilo();
        await network.KillSiloAsync(silo);
        await Task.Delay(random.Next(200, 2000));
        await network.RestartSiloAsync(silo);
    }

    private async Task FreezeSiloAsync()
    {
        var silo = AnySilo();
        await network.PauseSiloAsync(silo);
        await Task.Delay(TimeSpan.FromSeconds(8)); // past ProbeTimeout × NumMissedProbesLimit and the heartbeat TTL
        await network.ResumeSiloAsync(silo);
        // Declared dead meanwhile, it stops itself on learning so (Orleans' rule); a supervisor then starts it again.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!network.SiloExited(silo) && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        if (network.SiloExited(silo))
        {
            Injected.AddOrUpdate("silo frozen past failure detection: declared dead, stopped itself, restarted", 1, (_, n) => n + 1);
            await network.RestartSiloAsync(silo);
        }
    }

    private async Task KillWorkerAsync()
    {
        var worker = random.Next(network.WorkerCount);
        await network.KillWorkerAsync(worker);
        await Task.Delay(random.Next(100, 1000));
        await network.RestartWorkerAsync(worker);
    }

    private Task KillAgentAsync()
    {
        var agents = network.AgentProcesses();
        if (agents.Count > 0)
        {
            using var kill = System.Diagnostics.Process.Start("kill", ["-KILL", agents[random.Next(agents.Count)].ToString()]);
            kill.WaitForExit();
        }

        return Task.CompletedTask;
    }

    private async Task RestartRedisAsync()
    {
        await network.Redis.RestartAsync();
        await RestartExitedWorkersAsync();
    }

    private async Task FreezeRedisAsync()
    {
        network.Redis.Pause();
        await Task.Delay(TimeSpan.FromSeconds(5));
        network.Redis.Resume();
        await RestartExitedWorkersAsync();
    }

    /// <summary>A worker that gave up on Redis exits; its supervisor starts it again.</summary>
    private async Task RestartExitedWorkersAsync()
    {
        for (var i = 0; i < network.WorkerCount; i++)
        {
            if (network.WorkerExited(i))
            {
                await network.RestartWorkerAsync(i);
            }
        }
    }

    private async Task ListenToNotificationsAsync()
    {
        var subscriber = network.Redis.Connection.GetSubscriber();
        foreach (var channel in new[] { RedisChannel.Pattern(RedisKeys.ResultChannelPattern), RedisChannel.Literal(RedisKeys.StartedChannel) })
        {
            await subscriber.SubscribeAsync(channel, (heardOn, message) =>
            {
                _heard.Enqueue((RedisChannel.Literal(heardOn.ToString()), message));
                while (_heard.Count > 500 && _heard.TryDequeue(out _))
                {
                }
            });
        }
    }

    /// <summary>Old notifications again, some twice, in a shuffled order: what a flaky network or a buggy peer sends.</summary>
    private async Task ReplayNotificationsAsync()
    {
        var heard = _heard.ToArray();
        var replay = heard.OrderBy(_ => random.Next()).Take(30).SelectMany(n => random.Next(2) == 0 ? [n] : new[] { n, n }).ToArray();
        var publisher = network.Redis.Connection.GetSubscriber();
        try
        {
            foreach (var (channel, message) in replay)
            {
                await publisher.PublishAsync(channel, message);
            }
        }
        catch (RedisException)
        {
            // The test's own connection still reconnecting after a Redis fault: fewer replays this round.
        }
    }
}
