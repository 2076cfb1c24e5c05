using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orchestrator.Redis;
using StackExchange.Redis;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// What this process spent between two points (every thread, the silo's included): CPU time, bytes allocated, and the
/// garbage collector's pauses and collections of each generation.
/// </summary>
internal readonly record struct ProcessUsage(TimeSpan Cpu, long AllocatedBytes, TimeSpan GcPause, int Gen0, int Gen1, int Gen2)
{
    public static ProcessUsage Now()
    {
        using var process = Process.GetCurrentProcess();
        return new ProcessUsage(
            process.TotalProcessorTime, GC.GetTotalAllocatedBytes(precise: true), GC.GetTotalPauseDuration(),
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    }

    public static ProcessUsage operator -(ProcessUsage after, ProcessUsage before) => new(
        after.Cpu - before.Cpu, after.AllocatedBytes - before.AllocatedBytes, after.GcPause - before.GcPause,
        after.Gen0 - before.Gen0, after.Gen1 - before.Gen1, after.Gen2 - before.Gen2);
}

/// <summary>
/// Counts the tasks that reach a final state in this process, from the orchestrator's own meter (the embedded silo runs
/// here), so that tasks finished by the backlog's drain count as well as the measured lanes' own.
/// </summary>
internal sealed class FinishedTaskCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _finished;

    public FinishedTaskCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OrchestratorMetrics.MeterName && instrument.Name == "orchestrator.task.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _finished));
        _listener.Start();
    }

    public long Finished => Interlocked.Read(ref _finished);

    public void Dispose() => _listener.Dispose();
}

/// <summary>The Redis server's own figures: commands it ran (<c>INFO commandstats</c>, scripts' inner commands included), memory, keys.</summary>
internal sealed class RedisProbe : IAsyncDisposable
{
    private readonly IConnectionMultiplexer _connection;
    private readonly IServer _server;

    private RedisProbe(IConnectionMultiplexer connection)
    {
        _connection = connection;
        _server = connection.GetServers()[0];
    }

    public static async Task<RedisProbe> ConnectAsync(string setting)
    {
        var options = RedisConnection.Parse(setting);
        options.AllowAdmin = true; // INFO is an admin command for StackExchange.Redis
        return new RedisProbe(await ConnectionMultiplexer.ConnectAsync(options));
    }

    public async Task<RedisFigures> ReadAsync()
    {
        var commands = 0L;
        foreach (var group in await _server.InfoAsync("commandstats"))
        {
            foreach (var (name, value) in group)
            {
                // "cmdstat_hset" → "calls=12,usec=…"; the probe's own INFO and DBSIZE are left out.
                if (name is "cmdstat_info" or "cmdstat_dbsize" || !value.StartsWith("calls=", StringComparison.Ordinal))
                {
                    continue;
                }

                commands += long.Parse(value.AsSpan(6, value.IndexOf(',') - 6));
            }
        }

        var memory = (await _server.InfoAsync("memory")).SelectMany(g => g).First(p => p.Key == "used_memory").Value;
        return new RedisFigures(commands, long.Parse(memory), await _server.DatabaseSizeAsync());
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

internal readonly record struct RedisFigures(long Commands, long UsedMemoryBytes, long Keys)
{
    public static RedisFigures operator -(RedisFigures after, RedisFigures before) =>
        new(after.Commands - before.Commands, after.UsedMemoryBytes - before.UsedMemoryBytes, after.Keys - before.Keys);
}

/// <summary>The activations of task and subtask grains in the embedded silo.</summary>
internal static class TaskActivations
{
    public static async Task<int> CountAsync(IServiceProvider silo)
    {
        string[] types = [typeof(TaskGrain).FullName!, typeof(SubtaskGrain).FullName!];
        var statistics = await silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return statistics.Where(s => types.Contains(s.GrainType.Split(',')[0])).Sum(s => s.ActivationCount);
    }
}
