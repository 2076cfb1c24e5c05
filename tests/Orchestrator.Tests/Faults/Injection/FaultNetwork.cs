using Orchestrator.Client;
using Orchestrator.Tests.Isolation;
using Orchestrator.Tests.Support;
using StackExchange.Redis;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>
/// The network the nemesis attacks, all real processes: a durable redis-server (AOF, fsync always), two silo
/// processes in one cluster running embedded domains, and two standalone backend workers, all sharing one git
/// workspace. Timings are short so that failure detection, heartbeats and retries act within seconds.
/// Every agent start is appended to <see cref="RunsFile"/> (its subtask id), before the agent does anything else.
/// </summary>
public sealed class FaultNetwork : IAsyncDisposable
{
    public const int TaskTimeoutSeconds = 15;
    private static readonly string[] WorkerIds = ["backend-0000fa01", "backend-0000fa02"];

    private readonly Dictionary<string, string> _settings;
    private readonly SiloProcess?[] _silos = new SiloProcess?[2];
    private readonly WorkerProcess?[] _workers = new WorkerProcess?[WorkerIds.Length];

    private FaultNetwork(RedisServer redis, TempDirectory dir, Dictionary<string, string> settings, string agentScript)
    {
        Redis = redis;
        Dir = dir;
        _settings = settings;
        AgentScript = agentScript;
    }

    public RedisServer Redis { get; }

    public TempDirectory Dir { get; }

    public string Workspace => Dir.File("workspace");

    public string RunsFile => Dir.File("runs.txt");

    /// <summary>The path of the agent script: its processes are the ones whose command line is <c>bash &lt;path&gt;</c>.</summary>
    public string AgentScript { get; }

    public OrchestratorConnection Connection { get; private set; } = null!;

    public int SiloCount => _silos.Length;

    public int WorkerCount => _workers.Length;

    public static async Task<FaultNetwork> StartAsync()
    {
        var redis = await RedisServer.StartAsync(durable: true);
        var dir = new TempDirectory("orchestrator-faults");
        await GitRepository.InitAsync(dir.File("workspace"));
        var script = dir.File("agent.sh");
        var settings = new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Workspace"] = dir.File("workspace"),
            // Each subtask writes a file of its own, so that parallel domains never conflict and a conflict is a fault.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
                echo "$TASK_ID" >> '{dir.File("runs.txt")}'
                sleep 0.$((RANDOM % 8 + 2))
                echo "$TASK_ID" > "out-$TASK_ID.txt"
                """),
            ["Domains:Agent:Concurrency"] = "2",
            ["Domains:Agent:HeartbeatInterval"] = "00:00:00.500",
            ["Domains:Agent:ShutdownGrace"] = "00:00:01",
            ["Orchestrator:HeartbeatTtl"] = "00:00:03",
            ["Orchestrator:HealthCheckInterval"] = "00:00:00.500",
            ["Orchestrator:StartupGrace"] = "00:00:10",
            ["Orchestrator:SchedulerTick"] = "00:00:00.200",
            ["Orchestrator:DeadlineGrace"] = "00:00:01",
            ["Orchestrator:Retry:MaxAttempts"] = "6",
            ["Orchestrator:Retry:InitialBackoff"] = "00:00:00.100",
            ["Orchestrator:Retry:MaxBackoff"] = "00:00:01",
            ["Cluster:Membership:ProbeTimeout"] = "00:00:01",
            ["Cluster:Membership:NumMissedProbesLimit"] = "2",
            // Two silos: the survivor's vote alone declares the other dead, and a silo learns of its own death within seconds.
            ["Cluster:Membership:NumVotesForDeathDeclaration"] = "1",
            ["Cluster:Membership:TableRefreshTimeout"] = "00:00:02",
            ["Web:TokenFile"] = dir.File("token"),
        };
        var network = new FaultNetwork(redis, dir, settings, script);
        for (var i = 0; i < network._silos.Length; i++)
        {
            network._silos[i] = await SiloProcess.StartAsync(settings);
        }

        for (var i = 0; i < network._workers.Length; i++)
        {
            await network.StartWorkerAsync(i);
        }

        network.Connection = await network._silos[0]!.ConnectAsync(redis.ConnectionString);
        return network;
    }

    public async Task KillSiloAsync(int index) => await _silos[index]!.KillAsync();

    public Task PauseSiloAsync(int index) => _silos[index]!.PauseAsync();

    public Task ResumeSiloAsync(int index) => _silos[index]!.ResumeAsync();

    public bool SiloExited(int index) => _silos[index]!.HasExited;

    /// <summary>A silo that died comes back on its own ports, as a supervisor restarts a service.</summary>
    public async Task RestartSiloAsync(int index)
    {
        var dead = _silos[index]!;
        await dead.DisposeAsync();
        Keep($"silo{index}", dead.Output);
        _silos[index] = await SiloProcess.StartAsync(_settings, restartOf: dead);
    }

    /// <summary>SIGKILL to the worker alone: its agent runs on, orphaned, as after an OOM kill of the worker.</summary>
    public Task KillWorkerAsync(int index) => _workers[index]!.KillWorkerOnlyAsync();

    public bool WorkerExited(int index) => _workers[index]!.HasExited;

    /// <summary>The worker starts again under the same agent id, as Docker's restart policy starts a domain container.</summary>
    public async Task RestartWorkerAsync(int index)
    {
        await _workers[index]!.DisposeAsync();
        Keep($"worker{index}", _workers[index]!.Output);
        await StartWorkerAsync(index);
    }

    private async Task StartWorkerAsync(int index)
    {
        _workers[index] = WorkerProcess.Start(new Dictionary<string, string>
        {
            ["REDIS_URL"] = $"redis://{Redis.ConnectionString}",
            ["DOMAIN_TYPE"] = "backend",
            ["AGENT_ID"] = WorkerIds[index],
            ["WORKSPACE"] = Workspace,
            ["AGENT_COMMAND"] = _settings["Domains:Agent:Command"],
            ["AGENT_CONFIG"] = Dir.File("agent-config"),
            ["HEARTBEAT_INTERVAL_SECONDS"] = "1",
            ["SHUTDOWN_GRACE_SECONDS"] = "1",
            ["REDIS_WAIT_SECONDS"] = "120",
        });
        await _workers[index]!.RegisteredAsync();
    }

    /// <summary>The agent processes running now (their command line is <c>bash &lt;agent script&gt;</c>).</summary>
    public IReadOnlyList<int> AgentProcesses() =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => (Pid: int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0, Dir: d))
            .Where(p => p.Pid > 0 && CommandLine(p.Dir) is ["bash", var script, ..] && script == AgentScript)
            .Select(p => p.Pid)
            .ToArray();

    private static string[] CommandLine(string procDir)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return []; // it ended while we looked
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>How often each subtask's agent started, from <see cref="RunsFile"/>.</summary>
    public IReadOnlyDictionary<string, int> AgentRuns() =>
        (File.Exists(RunsFile) ? File.ReadAllLines(RunsFile) : [])
            .Where(l => l.Length > 0)
            .GroupBy(l => l, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>Length of every <c>tasks:pending:*</c> and <c>tasks:active:*</c> list.</summary>
    public async Task<IReadOnlyDictionary<string, long>> QueueLengthsAsync()
    {
        var server = Redis.Connection.GetServer(Redis.Connection.GetEndPoints().Single());
        var lengths = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pattern in new[] { "tasks:pending:*", "tasks:active:*" })
        {
            await foreach (var key in server.KeysAsync(pattern: pattern))
            {
                lengths[key!] = await Redis.Db.ListLengthAsync(key);
            }
        }

        return lengths;
    }

    /// <summary>With <c>ORCHESTRATOR_FAULT_LOGS</c> set to a directory, every process's output is kept there for a post-mortem.</summary>
    private void Keep(string name, string output)
    {
        if (Environment.GetEnvironmentVariable("ORCHESTRATOR_FAULT_LOGS") is { Length: > 0 } logs)
        {
            Directory.CreateDirectory(logs);
            File.WriteAllText(Path.Combine(logs, $"{name}-{DateTime.UtcNow:HHmmss.fff}.log"), output);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Connection is not null)
        {
            await Connection.DisposeAsync();
        }

        foreach (var worker in _workers)
        {
            if (worker is not null)
            {
                await worker.DisposeAsync();
                Keep("worker", worker.Output);
            }
        }

        foreach (var silo in _silos)
        {
            if (silo is not null)
            {
                await silo.DisposeAsync();
                Keep("silo", silo.Output);
            }
        }

        await Redis.DisposeAsync();
        Dir.Dispose();
    }
}
