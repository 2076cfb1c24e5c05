using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker.Agents;

/// <summary>
/// Runs the agent CLI as a process in the workspace: prompt on standard input, output streamed line by line,
/// files compared before and after. On timeout or cancel the whole process tree is killed: the agent is
/// started in its own process group (via <c>setsid</c>) so that the group, orphans included, is killed together.
/// </summary>
public sealed partial class ProcessAgentRunner(AgentCommandOptions options) : IAgentRunner
{
    private static readonly TimeSpan OutputDrainGrace = TimeSpan.FromSeconds(2);
    private static readonly string? Setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    /// <summary>
    /// Runs beside the agent in its process group: if this worker dies without killing the group (SIGKILL, a silo
    /// that crashed), the group kills itself within a second instead of running on unobserved.
    /// </summary>
    private const string WatchdogLine =
        "(while kill -0 \"$ORCHESTRATOR_WORKER_PID\" 2>/dev/null; do sleep 1; done; kill -KILL 0) </dev/null >/dev/null 2>&1 &";

    public async Task<AgentOutcome> RunAsync(TaskMessage message, string prompt, Action<string> output, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(options.Workspace);
        var before = WorkspaceSnapshot.Capture(options.Workspace, options.IgnorePatterns);
        var promptFile = Path.Combine(Path.GetTempPath(), $"orchestrator-prompt-{message.TaskId}-{Guid.NewGuid():N}.md");
        await File.WriteAllTextAsync(promptFile, prompt, CancellationToken.None).ConfigureAwait(false);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            using var process = Start(message, promptFile);
            var tail = new TailBuffer(options.StdoutTailChars);
            var stdout = PumpAsync(process.StandardOutput, line => { tail.Append(line); output(line); });
            var stderr = PumpAsync(process.StandardError, line => output("[stderr] " + line));
            await WriteStdinAsync(process, prompt).ConfigureAwait(false);

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(message.TimeoutSeconds));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            string? stopReason = null;
            try
            {
                await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                stopReason = timeout.IsCancellationRequested
                    ? $"Timed out after {message.TimeoutSeconds} s; the agent's process tree was killed"
                    : "Stopped before it finished; the agent's process tree was killed";
            }

            // Also ends children the agent left running, which would keep the output pipes open.
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(OutputDrainGrace, CancellationToken.None)).ConfigureAwait(false);

            var after = WorkspaceSnapshot.Capture(options.Workspace, options.IgnorePatterns);
            return new AgentOutcome(stopReason is null ? process.ExitCode : null, stopReason, tail.ToString(), after.ChangesSince(before), stopwatch.Elapsed);
        }
        finally
        {
            File.Delete(promptFile);
        }
    }

    private Process Start(TaskMessage message, string promptFile)
    {
        var command = options.ResolvedCommand;
        var start = new ProcessStartInfo(Setsid ?? "/bin/sh")
        {
            WorkingDirectory = options.Workspace,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (Setsid is not null)
        {
            start.ArgumentList.Add("/bin/sh");
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Setsid is null ? command : WatchdogLine + "\n" + command);
        start.Environment["PROMPT_FILE"] = promptFile;
        start.Environment["TASK_ID"] = message.TaskId;
        start.Environment["DOMAIN_TYPE"] = message.Destination;
        start.Environment["WORKSPACE"] = options.Workspace;
        start.Environment["ORCHESTRATOR_WORKER_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            return Process.Start(start) ?? throw new InvalidOperationException($"The agent command could not be started: {command}");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"The agent command could not be started ({e.Message}): {command}", e);
        }
    }

    private static async Task WriteStdinAsync(Process process, string prompt)
    {
        try
        {
            await process.StandardInput.WriteAsync(prompt).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The agent exited without reading its prompt; its exit code tells the rest.
        }
    }

    private static async Task PumpAsync(StreamReader reader, Action<string> onLine)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                onLine(line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The process was killed; what was read is kept.
        }
    }

    private static void KillTree(Process process)
    {
        if (Setsid is not null && OperatingSystem.IsLinux())
        {
            _ = kill(-process.Id, 9); // the whole process group, including orphans reparented to init
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>Keeps the last <c>capacity</c> characters of the output.</summary>
    private sealed class TailBuffer(int capacity)
    {
        private readonly StringBuilder _text = new();

        public void Append(string line)
        {
            lock (_text)
            {
                _text.Append(line).Append('\n');
                if (_text.Length > capacity * 2)
                {
                    _text.Remove(0, _text.Length - capacity);
                }
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.Length > capacity ? _text.ToString(_text.Length - capacity, capacity) : _text.ToString();
            }
        }
    }
}
