using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Domains;
using Orchestrator.Hosting;
using Orchestrator.Redis;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary>
/// <c>orchestrator bench</c>: drives N tasks through an embedded orchestrator and prints throughput, submit→aggregated-result
/// latency percentiles, CPU time and bytes allocated per task, and on Redis the commands, memory and keys per task. With
/// <c>--backlog</c> a queue of low-priority work waits in the same domain; with <c>--worker-program</c> the domain is
/// served by standalone worker processes running a process agent. A measurement, not a test: nothing is asserted.
/// </summary>
internal static class BenchCommand
{
    private const string Domain = "backend";

    public static Command Create()
    {
        var tasks = new Option<int>("--tasks", "-n") { Description = "Tasks to run", DefaultValueFactory = _ => 5000 };
        var concurrency = new Option<int>("--concurrency", "-c") { Description = "Tasks in flight at once", DefaultValueFactory = _ => 256 };
        var workers = new Option<int>("--worker-concurrency") { Description = "Tasks each domain instance runs at once", DefaultValueFactory = _ => 512 };
        var warmup = new Option<int?>("--warmup")
        {
            Description = "Tasks run first and not measured, at least 64 at a time (default 20000; 100 with --worker-program): .NET compiles the "
                + "hot code again, optimised, over the first thousands of tasks, and that compiling would otherwise be measured as the orchestrator's cost",
        };
        var backlog = new Option<int>("--backlog")
        {
            Description = "Also measure beside a backlog: this many low-priority tasks queued to the domain (held paused meanwhile), then high-priority tasks measured while the backlog drains; every task runs to its end",
        };
        var redis = new Option<string?>("--redis")
        {
            Description = "Run on this Redis (storage, reminders and the wire protocol to the workers) instead of in memory, e.g. 127.0.0.1:6379. Use a Redis of its own: the tasks go through the network's real queues",
        };
        var workerProgram = new Option<string?>("--worker-program")
        {
            Description = "Serve the domain with standalone worker processes (this orchestrator-worker.dll, built with `dotnet build -c Release src/Orchestrator.WorkerHost`) instead of in-process workers; needs --redis",
        };
        var agent = new Option<string>("--agent") { Description = "The agent command the standalone workers run", DefaultValueFactory = _ => "/bin/true" };
        var workerProcesses = new Option<int>("--worker-processes") { Description = "Standalone worker processes", DefaultValueFactory = _ => 1 };
        var json = CommonOptions.Json();
        var command = new Command("bench", "Measure tasks/s, latency, CPU, allocations and Redis work per task through an embedded orchestrator")
        {
            tasks, concurrency, workers, warmup, backlog, redis, workerProgram, agent, workerProcesses, json,
        };
        command.Subcommands.Add(IsolationBenchCommand.Create());
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            var total = parse.GetValue(tasks);
            var inFlight = parse.GetValue(concurrency);
            var queued = parse.GetValue(backlog);
            var redisSetting = parse.GetValue(redis);
            var program = parse.GetValue(workerProgram);
            // Process agents are slow enough that the compiling is lost in them; a long warm-up there only takes time.
            var warmupTasks = parse.GetValue(warmup) ?? (program is null ? 20_000 : 100);
            if (total <= 0 || inFlight <= 0 || parse.GetValue(workers) <= 0 || warmupTasks < 0 || queued < 0 || parse.GetValue(workerProcesses) <= 0)
            {
                throw new InvalidTaskRequestException("--tasks, --concurrency, --worker-concurrency and --worker-processes must be positive, --warmup and --backlog not negative.");
            }

            if (program is not null && (redisSetting is null || !File.Exists(program)))
            {
                throw new InvalidTaskRequestException(redisSetting is null
                    ? "--worker-program needs --redis: standalone workers reach the orchestrator through Redis."
                    : $"--worker-program '{program}' does not exist; build it with `dotnet build -c Release src/Orchestrator.WorkerHost`.");
            }

            var workspace = Directory.CreateTempSubdirectory("orchestrator-bench-");
            var settings = new Dictionary<string, string?>
            {
                ["Domains:Agent:Kind"] = "noop",
                ["Domains:Agent:Concurrency"] = parse.GetValue(workers).ToString(),
                ["Domains:Workspace"] = workspace.FullName,
            };
            if (redisSetting is not null)
            {
                settings["Redis:ConnectionString"] = redisSetting;
                // Grain state and membership of its own, so that nothing of an earlier run is taken for this one's.
                settings["Cluster:ServiceId"] = $"bench-{Guid.NewGuid():N}";
            }

            var standalone = new List<Process>();
            try
            {
                if (program is not null)
                {
                    // Registered before the orchestrator starts, so the domain's pool adopts them rather than spawning its own.
                    for (var i = 0; i < parse.GetValue(workerProcesses); i++)
                    {
                        standalone.Add(StartWorker(program, redisSetting!, workspace.FullName, parse.GetValue(agent)!, parse.GetValue(workers)));
                    }

                    await WaitForWorkersAsync(redisSetting!, standalone.Count, cancellationToken);
                }

                var figures = await MeasureAsync(settings, redisSetting, total, inFlight, warmupTasks, queued, Render.Progress(parse.GetValue(json)), cancellationToken);
                if (program is not null)
                {
                    // What this machine can do at all: the agent alone, started as often and as many at once, nothing else.
                    var spawnRate = await SpawnRateAsync(parse.GetValue(agent)!, Math.Min(total, 1000), Math.Min(inFlight, parse.GetValue(workers) * standalone.Count), cancellationToken);
                    figures["agent_spawns_per_second_alone"] = spawnRate;
                    figures["tasks_per_second_vs_spawns_alone"] = Math.Round(figures["tasks_per_second"]!.GetValue<double>() / spawnRate, 3);
                }

                figures["mode"] = program is not null ? $"redis, {standalone.Count} worker process(es), agent {parse.GetValue(agent)}" : redisSetting is null ? "memory" : "redis";
                Print(figures, parse.GetValue(json));
                return figures["failed"]!.GetValue<int>() == 0 ? 0 : CliAction.NotCompleted;
            }
            finally
            {
                foreach (var worker in standalone)
                {
                    worker.Kill(entireProcessTree: true);
                    worker.Dispose();
                }

                workspace.Delete(recursive: true);
            }
        });
        return command;
    }

    private static async Task<JsonObject> MeasureAsync(
        Dictionary<string, string?> settings, string? redisSetting, int total, int inFlight, int warmup, int backlog, IAnsiConsole progress, CancellationToken cancellationToken)
    {
        await using var embedded = await EmbeddedOrchestrator.StartAsync(settings, cancellationToken: cancellationToken);
        await using var redis = redisSetting is null ? null : await RedisProbe.ConnectAsync(redisSetting);
        using var finished = new FinishedTaskCounter();
        var atStart = redis is null ? default : await redis.ReadAsync();

        // The code paths are what warm up, not the lanes: many lanes get a long warm-up done quickly, also before one-at-a-time runs.
        var (_, warmupFailed) = await RunAsync(embedded, warmup, Math.Max(inFlight, 64), TaskPriority.Normal, cancellationToken, progress, "warm-up: ");
        var figures = await MeasureWindowAsync(embedded, redis, finished, total, inFlight, TaskPriority.Normal, progress, cancellationToken);
        var failed = figures["failed"]!.GetValue<int>() + warmupFailed;
        if (backlog > 0)
        {
            // The domain's queue is held while the backlog is queued, so that all of it waits; then it is let go, and the
            // measured tasks (high priority) run while the backlog drains from the full queue beside them.
            var ids = new List<string>();
            await embedded.Client.PauseDomainAsync(Domain, paused: true);
            var queued = await QueueBacklogAsync(embedded, backlog, inFlight, ids, progress, cancellationToken);
            await embedded.Client.PauseDomainAsync(Domain, paused: false);
            var withBacklog = await MeasureWindowAsync(embedded, redis, finished, total, inFlight, TaskPriority.High, progress, cancellationToken);
            var drain = Stopwatch.StartNew();
            var backlogFailed = await WaitForAllAsync(embedded, ids, inFlight, cancellationToken);
            queued["drained_after_window_seconds"] = Math.Round(drain.Elapsed.TotalSeconds, 3);
            queued["failed"] = backlogFailed;
            withBacklog["backlog"] = queued;
            withBacklog["finished_per_second_vs_empty_queue"] = Math.Round(
                withBacklog["all_finished_per_second"]!.GetValue<double>() / figures["all_finished_per_second"]!.GetValue<double>(), 3);
            figures["with_backlog"] = withBacklog;
            failed += withBacklog["failed"]!.GetValue<int>() + backlogFailed;
        }

        figures["failed"] = failed;
        if (redis is not null)
        {
            // Every task of the run is final by now; what they left in Redis, per task, before retention removes it.
            var left = await redis.ReadAsync() - atStart;
            var tasksRun = warmup + total + (backlog > 0 ? total + backlog : 0);
            figures["redis_bytes_per_finished_task"] = Math.Round((double)left.UsedMemoryBytes / tasksRun, 0);
            figures["redis_keys_per_finished_task"] = Math.Round((double)left.Keys / tasksRun, 2);
        }

        // Every task is final by now: what the silo still holds of them (their grains are let go once finished). Read at
        // once, so the last few may still be on their way out.
        figures["task_activations_left"] = await TaskActivations.CountAsync(embedded.Services);
        figures["warmup_tasks"] = warmup;
        figures["processors"] = Environment.ProcessorCount;
        return figures;
    }

    /// <summary>Runs <paramref name="total"/> tasks in lanes and reports what the process and Redis spent per task finished meanwhile.</summary>
    private static async Task<JsonObject> MeasureWindowAsync(
        EmbeddedOrchestrator embedded, RedisProbe? redis, FinishedTaskCounter finished, int total, int inFlight, TaskPriority priority, IAnsiConsole progress, CancellationToken cancellationToken)
    {
        var finishedBefore = finished.Finished;
        var usageBefore = ProcessUsage.Now();
        var redisBefore = redis is null ? default : await redis.ReadAsync();
        var stopwatch = Stopwatch.StartNew();
        var (latencies, failed) = await RunAsync(embedded, total, inFlight, priority, cancellationToken, progress);
        stopwatch.Stop();
        var usage = ProcessUsage.Now() - usageBefore;
        var redisUsed = redis is null ? default : await redis.ReadAsync() - redisBefore;
        var finishedInWindow = finished.Finished - finishedBefore;

        Array.Sort(latencies);
        var figures = new JsonObject
        {
            ["tasks"] = total,
            ["concurrency"] = inFlight,
            ["seconds"] = Math.Round(stopwatch.Elapsed.TotalSeconds, 3),
            ["tasks_per_second"] = Math.Round(total / stopwatch.Elapsed.TotalSeconds, 1),
            // A backlog draining beside the measured lanes finishes tasks too: every task finished in the window is work done.
            ["all_finished_per_second"] = Math.Round(finishedInWindow / stopwatch.Elapsed.TotalSeconds, 1),
            ["p50_ms"] = Percentile(latencies, 0.50),
            ["p95_ms"] = Percentile(latencies, 0.95),
            ["p99_ms"] = Percentile(latencies, 0.99),
            ["cpu_us_per_task"] = Math.Round(usage.Cpu.TotalMicroseconds / finishedInWindow, 1),
            ["allocated_kb_per_task"] = Math.Round(usage.AllocatedBytes / 1024.0 / finishedInWindow, 1),
            // Every thread stands still while the collector pauses them: a share of the window no task moves in.
            ["gc_paused_percent"] = Math.Round(100 * usage.GcPause / stopwatch.Elapsed, 1),
            ["gc_collections"] = new JsonObject { ["gen0"] = usage.Gen0, ["gen1"] = usage.Gen1, ["gen2"] = usage.Gen2 },
        };
        if (redis is not null)
        {
            figures["redis_commands_per_task"] = Math.Round((double)redisUsed.Commands / finishedInWindow, 1);
        }

        figures["failed"] = failed;
        return figures;
    }

    /// <summary>Queues <paramref name="count"/> low-priority tasks without waiting for them; the submit rate of the first and last tenth shows whether a submit costs more as the queue grows.</summary>
    private static async Task<JsonObject> QueueBacklogAsync(
        EmbeddedOrchestrator embedded, int count, int inFlight, List<string> ids, IAnsiConsole progress, CancellationToken cancellationToken)
    {
        var submitted = new string[count];
        var tenth = Math.Max(1, count / 10);
        var marks = new long[count];
        var next = -1;
        var start = Stopwatch.GetTimestamp();
        async Task Lane()
        {
            while (Interlocked.Increment(ref next) is var i && i < count)
            {
                var task = await embedded.Client.SubmitAsync(new TaskSubmission { Description = $"Add REST endpoint number {i}", Priority = TaskPriority.Low, Source = "bench" }, cancellationToken);
                submitted[i] = task.TaskId;
                marks[i] = Stopwatch.GetTimestamp();
                if ((i + 1) % 10_000 == 0)
                {
                    progress.MarkupLine($"[grey]{i + 1}/{count} backlog tasks queued[/]");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(inFlight, count)).Select(_ => Task.Run(Lane, cancellationToken)));
        ids.AddRange(submitted);
        Array.Sort(marks);
        double Rate(long from, long to, int tasks) => Math.Round(tasks / Stopwatch.GetElapsedTime(from, to).TotalSeconds, 1);
        var view = (await embedded.Client.ListDomainsAsync()).First(d => d.DomainType == Domain).Queue;
        return new JsonObject
        {
            ["tasks"] = count,
            ["submits_per_second_first_tenth"] = Rate(start, marks[tenth - 1], tenth),
            ["submits_per_second_last_tenth"] = Rate(marks[count - tenth - 1], marks[count - 1], tenth),
            ["queued_when_resumed"] = view.QueuedLow,
        };
    }

    /// <summary>One task per requirement routing to backend; each measured from submit to its aggregated result.</summary>
    private static async Task<(double[] LatenciesMs, int Failed)> RunAsync(
        EmbeddedOrchestrator embedded, int count, int inFlight, TaskPriority priority, CancellationToken cancellationToken, IAnsiConsole? progress = null, string stage = "")
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
                var task = await embedded.Client.SubmitAsync(new TaskSubmission { Description = $"Add REST endpoint number {i}", Priority = priority, Source = "bench" }, cancellationToken);
                var final = await embedded.Client.WaitForResultAsync(task.TaskId, cancellationToken);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (final.State != TaskState.Completed)
                {
                    Interlocked.Increment(ref failed);
                }

                if (Interlocked.Increment(ref done) % 1000 == 0)
                {
                    progress?.MarkupLine($"[grey]{stage}{done}/{count} tasks[/]");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(inFlight, Math.Max(count, 1))).Select(_ => Task.Run(Lane, cancellationToken)));
        return (latencies, failed);
    }

    /// <summary>Waits for each task to end; returns how many did not complete.</summary>
    private static async Task<int> WaitForAllAsync(EmbeddedOrchestrator embedded, List<string> ids, int inFlight, CancellationToken cancellationToken)
    {
        var failed = 0;
        var next = -1;
        async Task Lane()
        {
            while (Interlocked.Increment(ref next) is var i && i < ids.Count)
            {
                if ((await embedded.Client.WaitForResultAsync(ids[i], cancellationToken)).State != TaskState.Completed)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(inFlight, ids.Count)).Select(_ => Task.Run(Lane, cancellationToken)));
        return failed;
    }

    private static Process StartWorker(string program, string redis, string workspace, string agent, int concurrency)
    {
        var start = new ProcessStartInfo("dotnet") { ArgumentList = { program }, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["REDIS_URL"] = RedisConnection.ToUrl(redis);
        start.Environment["DOMAIN_TYPE"] = Domain;
        start.Environment["AGENT_ID"] = DomainIds.New(Domain);
        start.Environment["WORKSPACE"] = workspace;
        start.Environment["AGENT_COMMAND"] = agent;
        start.Environment["WORKER_CONCURRENCY"] = concurrency.ToString();
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Starts the agent command <paramref name="count"/> times, <paramref name="parallel"/> at once, and waits for each: processes per second.</summary>
    private static async Task<double> SpawnRateAsync(string agent, int count, int parallel, CancellationToken cancellationToken)
    {
        var next = -1;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, parallel)).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var process = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", agent }, RedirectStandardOutput = true })!;
                await process.StandardOutput.ReadToEndAsync(cancellationToken);
                await process.WaitForExitAsync(cancellationToken);
            }
        }, cancellationToken)));
        return Math.Round(count / stopwatch.Elapsed.TotalSeconds, 1);
    }

    private static async Task WaitForWorkersAsync(string redis, int count, CancellationToken cancellationToken)
    {
        await using var connection = await RedisConnection.ConnectAsync(redis, TimeSpan.FromSeconds(10), cancellationToken);
        var deadline = Stopwatch.StartNew();
        while ((await connection.GetDatabase().SetLengthAsync(RedisKeys.DomainAgentsOf(Domain))) < count)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"The {count} standalone worker(s) did not register within 60 s.");
            }

            await Task.Delay(100, cancellationToken); // start-up only, not the measured path
        }
    }

    private static void Print(JsonObject figures, bool json)
    {
        if (json)
        {
            Render.Json(figures);
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("Figure", "Value");
        foreach (var (name, value) in figures)
        {
            table.AddRow(name, Markup.Escape(value?.ToJsonString() ?? ""));
        }

        AnsiConsole.Write(table);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)], 3);
}
