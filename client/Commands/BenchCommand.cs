using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Hosting;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orchestrator bench</c>: drives N tasks through an embedded orchestrator with a no-op agent and prints
/// throughput and submit→aggregated-result latency percentiles. A measurement, not a test: nothing is asserted.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var tasks = new Option<int>("--tasks", "-n") { Description = "Tasks to run", DefaultValueFactory = _ => 5000 };
        var concurrency = new Option<int>("--concurrency", "-c") { Description = "Tasks in flight at once", DefaultValueFactory = _ => 256 };
        var workers = new Option<int>("--worker-concurrency") { Description = "Tasks each domain instance runs at once", DefaultValueFactory = _ => 512 };
        var warmup = new Option<int>("--warmup") { Description = "Tasks run first and not measured", DefaultValueFactory = _ => 500 };
        var redis = new Option<string?>("--redis")
        {
            Description = "Run on this Redis (storage, reminders and the wire protocol to the workers) instead of in memory, e.g. 127.0.0.1:6379. Use a Redis of its own: the tasks go through the network's real queues",
        };
        var json = CommonOptions.Json();
        var command = new Command("bench", "Measure tasks/s and latency through an embedded orchestrator with a no-op agent") { tasks, concurrency, workers, warmup, redis, json };
        command.Subcommands.Add(IsolationBenchCommand.Create());
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var total = parse.GetValue(tasks);
            var inFlight = parse.GetValue(concurrency);
            if (total <= 0 || inFlight <= 0 || parse.GetValue(workers) <= 0 || parse.GetValue(warmup) < 0)
            {
                throw new InvalidTaskRequestException("--tasks, --concurrency and --worker-concurrency must be positive, --warmup not negative.");
            }

            var redisSetting = parse.GetValue(redis);
            var settings = new Dictionary<string, string?>
            {
                ["Domains:Agent:Kind"] = "noop",
                ["Domains:Agent:Concurrency"] = parse.GetValue(workers).ToString(),
            };
            if (redisSetting is not null)
            {
                settings["Redis:ConnectionString"] = redisSetting;
                // Grain state and membership of its own, so that nothing of an earlier run is taken for this one's.
                settings["Cluster:ServiceId"] = $"bench-{Guid.NewGuid():N}";
            }

            await using var embedded = await EmbeddedOrchestrator.StartAsync(settings, cancellationToken: cancellationToken);
            var progress = Render.Progress(parse.GetValue(json));

            await RunAsync(embedded, parse.GetValue(warmup), inFlight, cancellationToken);
            var stopwatch = Stopwatch.StartNew();
            var (latencies, failed) = await RunAsync(embedded, total, inFlight, cancellationToken, progress);
            stopwatch.Stop();

            Array.Sort(latencies);
            var figures = new JsonObject
            {
                ["mode"] = redisSetting is null ? "embedded" : "redis",
                ["tasks"] = total,
                ["concurrency"] = inFlight,
                ["failed"] = failed,
                ["seconds"] = Math.Round(stopwatch.Elapsed.TotalSeconds, 3),
                ["tasks_per_second"] = Math.Round(total / stopwatch.Elapsed.TotalSeconds, 1),
                ["p50_ms"] = Percentile(latencies, 0.50),
                ["p95_ms"] = Percentile(latencies, 0.95),
                ["p99_ms"] = Percentile(latencies, 0.99),
                ["processors"] = Environment.ProcessorCount,
            };
            if (parse.GetValue(json))
            {
                Render.Json(figures);
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("Figure", "Value");
                foreach (var (name, value) in figures)
                {
                    table.AddRow(name, value?.ToJsonString() ?? "");
                }

                AnsiConsole.Write(table);
            }

            return failed == 0 ? 0 : CliAction.NotCompleted;
        });
        return command;
    }

    /// <summary>One task per requirement routing to backend; each measured from submit to its aggregated result.</summary>
    private static async Task<(double[] LatenciesMs, int Failed)> RunAsync(
        EmbeddedOrchestrator embedded, int count, int inFlight, CancellationToken cancellationToken, IAnsiConsole? progress = null)
    {
        var latencies = new double[count];
        var failed = 0;
        var next = -1;
        var done = 0;
        async Task Lane()
        {
            while (Interlocked.Increment(ref next) is var i && i < count)
            {
                var started = Stopwatch.GetTimestamp();
                var task = await embedded.Client.SubmitAsync(new TaskSubmission { Description = $"Add REST endpoint number {i}", Source = "bench" }, cancellationToken);
                var final = await embedded.Client.WaitForResultAsync(task.TaskId, cancellationToken);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (final.State != TaskState.Completed)
                {
                    Interlocked.Increment(ref failed);
                }

                if (Interlocked.Increment(ref done) % 1000 == 0)
                {
                    progress?.MarkupLine($"[grey]{done}/{count} tasks[/]");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(inFlight, Math.Max(count, 1))).Select(_ => Task.Run(Lane, cancellationToken)));
        return (latencies, failed);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)], 3);
}
