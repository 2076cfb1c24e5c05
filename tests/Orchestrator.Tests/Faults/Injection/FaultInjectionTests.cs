using System.Diagnostics;
using System.Globalization;
using System.Text;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;
using Xunit.Abstractions;

namespace Orchestrator.Tests.Faults.Injection;

/// <summary>
/// Tasks submitted while the <see cref="Nemesis"/> attacks a real network, then every promise of README's Guarantees
/// checked over the whole history. By default a minute of faults, every kind at least once (CI); <c>ORCHESTRATOR_SOAK_MINUTES</c> keeps
/// the nemesis going that long. The figures go to the test output and to <c>ORCHESTRATOR_FAULT_REPORT</c> when set.
/// </summary>
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    private static readonly string[] Descriptions =
    [
        "Add an API endpoint",
        "Build a login form component",
        "Deploy with docker",
        "Create user registration with form and API",
    ];

    /// <summary>Clients submitting at once, each a task every 400 ms or so: every fault meets work in flight.</summary>
    private const int Submitters = 2;

    /// <summary>
    /// Submitters wait while this many accepted tasks are unfinished, so that a long soak measures faults, not a backlog
    /// that outgrows the domains (one instance each) and the drain.
    /// </summary>
    private const int MaxUnfinished = 24;

    [RedisFact]
    public async Task Every_accepted_task_ends_in_exactly_one_final_state_while_silos_workers_agents_and_redis_fail()
    {
        var soak = double.TryParse(Environment.GetEnvironmentVariable("ORCHESTRATOR_SOAK_MINUTES"), CultureInfo.InvariantCulture, out var minutes) ? minutes : 1;
        var seed = Environment.TickCount;
        var random = new Random(seed);
        await using var network = await FaultNetwork.StartAsync();
        var recorder = new HistoryRecorder();
        var nemesis = new Nemesis(network, random);
        var clock = Stopwatch.StartNew();
        var refused = 0;

        using var stopLoad = new CancellationTokenSource();
        var load = Task.WhenAll(Enumerable.Range(0, Submitters).Select(_ => Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested)
            {
                if (recorder.Accepted.Count(id => recorder.Last(id)?.State.IsFinal() != true) >= MaxUnfinished)
                {
                    await Task.Delay(200, CancellationToken.None);
                    continue;
                }

                try
                {
                    var submission = new TaskSubmission { Description = Descriptions[Random.Shared.Next(Descriptions.Length)], TimeoutSeconds = FaultNetwork.TaskTimeoutSeconds };
                    recorder.Accept((await network.Connection.Client.SubmitAsync(submission)).TaskId);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref refused); // not accepted: nothing was promised
                }

                await Task.Delay(400, CancellationToken.None);
            }
        })));
        using var stopObserving = new CancellationTokenSource();
        var observer = Task.Run(() => ObserveAsync(network, recorder, stopObserving.Token));

        await nemesis.RunAsync(TimeSpan.FromMinutes(soak), CancellationToken.None);
        await stopLoad.CancelAsync();
        await load;
        var faultsEnded = clock.Elapsed;

        // Everything accepted must now finish: retries and deadlines are bounded, so a few minutes are plenty.
        var drainUntil = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (DateTime.UtcNow < drainUntil && recorder.Accepted.Any(id => recorder.Last(id)?.State.IsFinal() != true))
        {
            await Task.Delay(500);
        }

        await stopObserving.CancelAsync();
        await observer;
        await ObserveOnceAsync(network, recorder, recorder.Accepted);
        var history = recorder.Complete(network.AgentRuns(), await CompletionsLoggedAsync(network, recorder), await network.QueueLengthsAsync());
        var violations = HistoryChecker.Violations(history);

        Report(Figures(seed, faultsEnded, clock.Elapsed, nemesis, history, refused, violations));
        Assert.True(violations.Count == 0, $"{violations.Count} broken promise(s):\n{string.Join("\n", violations.Take(40))}\n{await UnfinishedAsync(network, recorder)}");
        Assert.True(history.Accepted.Count > 0, "no task was accepted: the run proves nothing");
    }

    /// <summary>One reader, so that each task's observations are in the order they were made.</summary>
    private static async Task ObserveAsync(FaultNetwork network, HistoryRecorder recorder, CancellationToken stop)
    {
        for (var round = 0; !stop.IsCancellationRequested; round++)
        {
            // Unfinished tasks every round; finished ones now and then, to see that they stay finished.
            var due = recorder.Accepted.Where(id => round % 5 == 0 || recorder.Last(id)?.State.IsFinal() != true).ToArray();
            await ObserveOnceAsync(network, recorder, due);
            await Task.Delay(200, CancellationToken.None);
        }
    }

    private static async Task ObserveOnceAsync(FaultNetwork network, HistoryRecorder recorder, IEnumerable<string> taskIds)
    {
        foreach (var id in taskIds)
        {
            try
            {
                recorder.Observed(await network.Connection.Client.GetAsync(id));
            }
            catch (Exception)
            {
                // Unreachable during a fault: an observation missed, not a broken promise.
            }
        }
    }

    /// <summary>The state and log of a few tasks that did not finish: what a person needs to find out why.</summary>
    private static async Task<string> UnfinishedAsync(FaultNetwork network, HistoryRecorder recorder)
    {
        var text = new StringBuilder();
        foreach (var taskId in recorder.Accepted.Where(id => recorder.Last(id)?.State.IsFinal() != true).Take(3))
        {
            var view = recorder.Last(taskId);
            text.AppendLine(CultureInfo.InvariantCulture, $"--- {taskId}: {view?.State.ToWire()} {string.Join("; ", view?.Subtasks.Select(s => $"{s.TaskId} {s.State.ToWire()} attempt {s.Attempts} agent {s.AgentId}") ?? [])}");
            var log = await network.Connection.Client.GetLogsAsync(taskId);
            foreach (var entry in log.Entries)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{entry.TaskId} {entry.Line}");
            }
        }

        return text.ToString();
    }

    /// <summary>How often each subtask's log says <c>Completed</c>.</summary>
    private static async Task<IReadOnlyDictionary<string, int>> CompletionsLoggedAsync(FaultNetwork network, HistoryRecorder recorder)
    {
        var completions = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var taskId in recorder.Accepted)
        {
            var subtasks = recorder.Last(taskId)?.Subtasks.Select(s => s.TaskId).ToHashSet(StringComparer.Ordinal) ?? [];
            var cursor = LogCursor.Start;
            while (true)
            {
                var page = await network.Connection.Client.GetLogsAsync(taskId, cursor);
                foreach (var entry in page.Entries.Where(e => subtasks.Contains(e.TaskId) && e.Line.EndsWith("] Completed", StringComparison.Ordinal)))
                {
                    completions[entry.TaskId] = completions.GetValueOrDefault(entry.TaskId) + 1;
                }

                if (page.Entries.Count == 0)
                {
                    break;
                }

                cursor = page.Next;
            }
        }

        return completions;
    }

    private static string Figures(int seed, TimeSpan faultsEnded, TimeSpan total, Nemesis nemesis, History history, int refused, IReadOnlyList<string> violations)
    {
        var finals = history.Accepted.Select(id => history.Observations[id].LastOrDefault()).Where(v => v is not null).Select(v => v!).ToArray();
        var subtasks = finals.SelectMany(v => v.Subtasks).ToArray();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"fault injection (seed {seed}): {faultsEnded.TotalSeconds:F0} s of faults, {total.TotalSeconds:F0} s in all");
        foreach (var (kind, count) in nemesis.Injected.OrderBy(e => e.Key))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {count,4} × {kind}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"tasks: {history.Accepted.Count} accepted, {refused} submissions refused during faults");
        foreach (var group in finals.GroupBy(v => v.State.ToWire()).OrderBy(g => g.Key))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {group.Count(),4} {group.Key}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"subtasks: {subtasks.Length}, attempts {subtasks.Sum(s => s.Attempts)}, agent starts {history.AgentRuns.Values.Sum()}, retried {subtasks.Count(s => s.Attempts > 1)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"broken promises: {violations.Count}");
        return text.ToString();
    }

    private void Report(string figures)
    {
        output.WriteLine(figures);
        if (Environment.GetEnvironmentVariable("ORCHESTRATOR_FAULT_REPORT") is { Length: > 0 } file)
        {
            File.WriteAllText(file, figures);
        }
    }
}
