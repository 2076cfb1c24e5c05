using System.Diagnostics;
using System.Text;

namespace Orchestrator.Tests.Support;

/// <summary>The standalone worker program (<c>orchestrator-worker</c>) in its own process, configured by environment.</summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string Program => BuiltProgram.Path(Path.Combine("src", "Orchestrator.WorkerHost"), "orchestrator-worker.dll");

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static WorkerProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        new(Process.Start(StartInfo(environment, args))!);

    /// <summary>Runs the program to its end (e.g. <c>health</c>, or a start that must fail) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        await using var worker = Start(environment, args);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await worker._process.WaitForExitAsync(bound.Token);
        worker._process.WaitForExit(); // flushes the asynchronous output readers
        return (worker.ExitCode, worker.Output);
    }

    /// <summary>Waits until the worker has registered (its log says so).</summary>
    public Task RegisteredAsync() =>
        Eventually.TrueAsync(() => Output.Contains("registered for domain") || HasExited, "the worker did not register", seconds: 30);

    /// <summary>SIGKILL to the worker process alone: the agents it started are left to fend for themselves.</summary>
    public async Task KillWorkerOnlyAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    public async Task TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
        {
            await kill.WaitForExitAsync();
        }

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(bound.Token);
        _process.WaitForExit();
    }

    private static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Program);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in new[] { "AGENT_ID", "DOMAIN_TYPE", "REDIS_URL", "AGENT_ROLE", "WORKSPACE", "AGENT_COMMAND", "AGENT_CONFIG" })
        {
            start.Environment.Remove(name);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
