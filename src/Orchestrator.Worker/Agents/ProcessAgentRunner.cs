using System.Collections;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using CliWrap;

namespace Orchestrator.Worker.Agents;

/// <summary>
/// Runs the agent CLI as a process (CliWrap) in the attempt's directory: prompt on standard input, written beside
/// the run so that an agent that never reads it cannot hold anything up; output streamed line by line, each line
/// bounded. The agent starts from an empty environment plus an allow-list. It runs in its own process group
/// (<c>setsid</c>), and the whole group — orphans included — is killed on timeout or cancel and whenever the agent
/// exits, before the attempt is reported. A watchdog in the group kills it if this worker dies first. A streaming
/// agent's events become readable log lines and its usage is counted as it comes; the group is killed as soon as the
/// run is over its budget, or when it has stalled (<see cref="StallWatch"/>).
/// </summary>
public sealed partial class ProcessAgentRunner(AgentCommandOptions options, TimeProvider? timeProvider = null) : IAgentRunner
{
    /// <summary>How many of the last output lines a stall's reason quotes.</summary>
    private const int StallTailLines = 10;

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    private const int SigKill = 9;
    private static readonly TimeSpan OutputDrainGrace = TimeSpan.FromSeconds(2);
    private static readonly string? Setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    /// <summary>Variables every agent gets from the worker's environment (locale variables LC_* too).</summary>
    private static readonly string[] AllowedEnvironment = ["PATH", "HOME", "LANG", "TERM"];

    public async Task<AgentOutcome> RunAsync(AgentRun run, Action<string> output, CancellationToken cancellationToken)
    {
        // The prompt file's name comes from no input at all, and only this user can read it.
        var promptFile = Path.Combine(Path.GetTempPath(), $"orchestrator-prompt-{Guid.NewGuid():N}.md");
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var file = new FileStream(promptFile, fileOptions))
        {
            await file.WriteAsync(Encoding.UTF8.GetBytes(run.Prompt), CancellationToken.None).ConfigureAwait(false);
        }

        var stopwatch = Stopwatch.StartNew();
        try
        {
            var tail = new TailBuffer(options.StdoutTailChars);
            var reader = UsageFormats.ReaderFor(options.ResolvedUsage);
            var meter = new UsageMeter(options.Prices);
            var stall = new StallWatch(run.Directory, options.StallTimeout, _time);
            using var overBudget = new CancellationTokenSource();
            string? budgetReason = null;

            void OnStdout(string line)
            {
                stall.Touch();
                var read = reader?.Read(line);
                foreach (var text in read?.Text ?? [line])
                {
                    tail.Append(text);
                    output(text);
                }

                if (read is not null)
                {
                    meter.Add(read);
                    if (meter.Exceeded(run.Message.BudgetUsd, run.Message.BudgetTokens) is { } reason
                        && Interlocked.CompareExchange(ref budgetReason, reason, null) is null)
                    {
                        overBudget.Cancel();
                    }
                }
            }

            var command = Cli.Wrap(Setsid ?? "/bin/sh")
                .WithArguments(Arguments())
                .WithWorkingDirectory(run.Directory)
                .WithEnvironmentVariables(EnvironmentFor(run, promptFile))
                .WithStandardInputPipe(PipeSource.FromString(run.Prompt))
                .WithStandardOutputPipe(PipeTarget.Create((stream, ct) => BoundedLineReader.ReadAsync(stream, options.MaxLineBytes, OnStdout, ct)))
                .WithStandardErrorPipe(PipeTarget.Create((stream, ct) =>
                    BoundedLineReader.ReadAsync(stream, options.MaxLineBytes, line => { stall.Touch(); output("[stderr] " + line); }, ct)))
                .WithValidation(CommandResultValidation.None);

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(run.Message.TimeoutSeconds), _time);
            using var stalled = new CancellationTokenSource();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken, overBudget.Token, stalled.Token);
            CommandTask<CommandResult> running;
            try
            {
                running = command.ExecuteAsync(CancellationToken.None);
            }
            catch (Win32Exception e)
            {
                throw new InvalidOperationException($"The agent command could not be started ({e.Message}): {options.ResolvedCommand}", e);
            }

            using var watchEnd = new CancellationTokenSource();
            var watching = WatchForStallAsync(stall, stalled, watchEnd.Token);
            var stoppedBy = StoppedBy.None;
            int? exitCode = null;
            try
            {
                exitCode = await AgentExitAsync(running, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                stoppedBy = timeout.IsCancellationRequested ? StoppedBy.Timeout
                    : overBudget.IsCancellationRequested ? StoppedBy.Budget
                    : stalled.IsCancellationRequested ? StoppedBy.Stall
                    : StoppedBy.Cancel;
            }

            await watchEnd.CancelAsync().ConfigureAwait(false);
            await watching.ConfigureAwait(false);

            // Also ends what the agent left running, which would keep the output pipes open.
            KillGroup(running.ProcessId);
            try
            {
                var result = await running.Task.WaitAsync(OutputDrainGrace, CancellationToken.None).ConfigureAwait(false);
                exitCode ??= result.ExitCode;
            }
            catch (TimeoutException)
            {
                // A process that left the group still holds a pipe; the outcome is known without it.
            }

            if (stoppedBy == StoppedBy.None && Volatile.Read(ref budgetReason) is not null)
            {
                // Its output is read after its exit: an agent that went over and finished before it could be stopped
                // still spent more than it was allowed.
                stoppedBy = StoppedBy.Budget;
            }

            var stopReason = stoppedBy switch
            {
                StoppedBy.None => null,
                StoppedBy.Timeout => $"Timed out after {run.Message.TimeoutSeconds} s; the agent's process group was killed",
                StoppedBy.Budget => Volatile.Read(ref budgetReason),
                StoppedBy.Stall => StallReason(tail),
                _ => "Stopped before it finished; the agent's process group was killed",
            };
            return new AgentOutcome(stopReason is null ? exitCode : null, stopReason, tail.ToString(), stopwatch.Elapsed)
            {
                TimedOut = stoppedBy == StoppedBy.Timeout,
                BudgetExceeded = stoppedBy == StoppedBy.Budget,
                Stalled = stoppedBy == StoppedBy.Stall,
                Usage = meter.HasUsage ? meter.Current : null,
            };
        }
        finally
        {
            File.Delete(promptFile);
        }
    }

    private enum StoppedBy { None, Timeout, Budget, Stall, Cancel }

    private static async Task WatchForStallAsync(StallWatch stall, CancellationTokenSource stalled, CancellationToken end)
    {
        try
        {
            await stall.WaitForStallAsync(end).ConfigureAwait(false);
            await stalled.CancelAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The agent ended first.
        }
    }

    private string StallReason(TailBuffer tail)
    {
        var last = tail.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(StallTailLines).ToArray();
        return $"stalled: no output and no change in its worktree for {options.StallTimeout.TotalSeconds:0.#} s; the agent's process group was killed"
            + (last.Length == 0 ? " (it wrote no output at all)" : $". Its last output:\n{string.Join('\n', last)}");
    }

    /// <summary>The agent's own exit (not the end of its output, which orphans may hold open); its exit code when known.</summary>
    private static async Task<int?> AgentExitAsync(CommandTask<CommandResult> running, CancellationToken stop)
    {
        Process agent;
        try
        {
            agent = Process.GetProcessById(running.ProcessId);
        }
        catch (ArgumentException)
        {
            return (await running.Task.WaitAsync(stop).ConfigureAwait(false)).ExitCode; // already gone
        }

        using (agent)
        {
            await agent.WaitForExitAsync(stop).ConfigureAwait(false);
            return null; // CliWrap's result has it once the pipes are drained
        }
    }

    private string[] Arguments()
    {
        var command = options.ResolvedCommand;
        if (Setsid is null)
        {
            return ["-c", command];
        }

        // Runs beside the agent in its process group: if this worker dies without killing the group (SIGKILL, a silo
        // that crashed), the group kills itself within a second instead of running on unobserved.
        var pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var watchdog = $"(while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -KILL 0) </dev/null >/dev/null 2>&1 &";
        return ["/bin/sh", "-c", watchdog + "\n" + command];
    }

    /// <summary>An empty environment plus the allow-list: nothing of the worker's own settings (Redis, API keys) reaches the agent.</summary>
    private IReadOnlyDictionary<string, string?> EnvironmentFor(AgentRun run, string promptFile)
    {
        var inherited = Environment.GetEnvironmentVariables();
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry variable in inherited)
        {
            environment[(string)variable.Key] = null; // CliWrap removes a variable set to null
        }

        foreach (DictionaryEntry variable in inherited)
        {
            var name = (string)variable.Key;
            if (AllowedEnvironment.Contains(name) || name.StartsWith("LC_", StringComparison.Ordinal) || options.PassEnvironment.Contains(name))
            {
                environment[name] = (string?)variable.Value;
            }
        }

        environment["TASK_ID"] = run.Message.TaskId;
        environment["DOMAIN_TYPE"] = run.DomainType;
        environment["WORKSPACE"] = run.Directory;
        environment["PROMPT_FILE"] = promptFile;
        return environment;
    }

    private static void KillGroup(int processId)
    {
        if (Setsid is not null && OperatingSystem.IsLinux())
        {
            _ = kill(-processId, SigKill); // the whole process group, including orphans reparented to init
        }
        else
        {
            try
            {
                using var agent = Process.GetProcessById(processId);
                agent.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // Already gone.
            }
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
