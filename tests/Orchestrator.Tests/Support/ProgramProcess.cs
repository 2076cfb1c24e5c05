using System.Diagnostics;
using System.Text;

namespace Orchestrator.Tests.Support;

/// <summary>
/// One of this repository's programs running in its own process: its combined output, SIGINT, SIGTERM, SIGKILL (of it alone
/// or of its whole tree), and a kill of the tree on dispose so that nothing outlives a test.
/// </summary>
public sealed class ProgramProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ProgramProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

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

    /// <summary>GNU env (coreutils 8.31 or later) can give the program it runs SIGINT's default disposition back.</summary>
    private static readonly Lazy<bool> EnvRestoresSigint = new(() =>
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"]) { RedirectStandardError = true })!;
            probe.WaitForExit();
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // no env on the path
        }
    });

    /// <summary>
    /// Starts <c>dotnet <paramref name="program"/> <paramref name="args"/></c> with the environment changed as given (null
    /// removes). Its SIGINT is the default where env can give it back, as under a terminal: a test run started in the
    /// background by a non-interactive shell ignores SIGINT, and every process it starts would inherit that.
    /// </summary>
    public static ProgramProcess Start(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(EnvRestoresSigint.Value ? "env" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (EnvRestoresSigint.Value)
        {
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add("dotnet");
        }

        start.ArgumentList.Add(program);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        return new ProgramProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the exit, bounded, with all output read.</summary>
    public async Task WaitForExitAsync(int seconds = 60)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        await _process.WaitForExitAsync(bound.Token);
        _process.WaitForExit(); // flushes the asynchronous output readers
    }

    /// <summary>SIGTERM, then the exit: the program shuts down gracefully.</summary>
    public async Task TerminateAsync()
    {
        await SignalAsync("TERM");
        await WaitForExitAsync();
    }

    /// <summary>SIGINT, as Ctrl+C in a terminal sends it.</summary>
    public Task InterruptAsync() => SignalAsync("INT");

    /// <summary>SIGSTOP: the program is frozen, its sockets open, as a stalled machine or a long GC pause looks to its peers.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT after <see cref="PauseAsync"/>.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString()]);
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGKILL to the program alone (<paramref name="entireTree"/> false) or to it and everything it started.</summary>
    public async Task KillAsync(bool entireTree)
    {
        _process.Kill(entireTree);
        await _process.WaitForExitAsync();
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
            await KillAsync(entireTree: true);
        }

        _process.Dispose();
    }
}
