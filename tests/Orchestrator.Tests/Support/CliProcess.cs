using System.Diagnostics;

namespace Orchestrator.Tests.Support;

/// <summary>The `orchestrator` command as a user runs it: a real process, its exit code, stdout and stderr.</summary>
public static class CliProcess
{
    private static string Program => Path.Combine(AppContext.BaseDirectory, "orchestrator.dll");

    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunProgramAsync("dotnet", [Program, .. args], TimeSpan.FromMinutes(2), environment: environment);

    /// <summary>The command started and left running, for a test that signals it or reads its output as it goes.</summary>
    public static ProgramProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        ProgramProcess.Start(Program, args, environment.ToDictionary(e => e.Key, e => (string?)e.Value));

    /// <summary>Any program, in <paramref name="directory"/> (default: the current one), stopped waiting for after <paramref name="bound"/>.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunProgramAsync(
        string program, IEnumerable<string> args, TimeSpan bound, string? directory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (directory is not null)
        {
            start.WorkingDirectory = directory;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
