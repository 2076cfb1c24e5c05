namespace Orchestrator.Tests.Support;

/// <summary>The standalone worker program (<c>orchestrator-worker</c>) in its own process, configured by environment.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private static readonly string[] ReferenceVariables = ["AGENT_ID", "DOMAIN_TYPE", "REDIS_URL", "AGENT_ROLE", "WORKSPACE", "AGENT_COMMAND", "AGENT_CONFIG"];

    private readonly ProgramProcess _process;

    private WorkerProcess(ProgramProcess process) => _process = process;

    public static string Program => BuiltProgram.Path(Path.Combine("src", "Orchestrator.WorkerHost"), "orchestrator-worker.dll");

    public string Output => _process.Output;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts the worker with exactly <paramref name="environment"/> among the reference's variables.</summary>
    public static WorkerProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var changes = ReferenceVariables.ToDictionary(name => name, _ => (string?)null);
        foreach (var (key, value) in environment)
        {
            changes[key] = value;
        }

        return new WorkerProcess(ProgramProcess.Start(Program, args, changes));
    }

    /// <summary>Runs the program to its end (e.g. <c>health</c>, or a start that must fail) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        await using var worker = Start(environment, args);
        await worker._process.WaitForExitAsync();
        return (worker.ExitCode, worker.Output);
    }

    /// <summary>Waits until the worker has registered (its log says so).</summary>
    public Task RegisteredAsync() =>
        Eventually.TrueAsync(() => Output.Contains("registered for domain") || HasExited, "the worker did not register", seconds: 30);

    /// <summary>SIGKILL to the worker process alone: the agents it started are left to fend for themselves.</summary>
    public Task KillWorkerOnlyAsync() => _process.KillAsync(entireTree: false);

    public Task TerminateAsync() => _process.TerminateAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
