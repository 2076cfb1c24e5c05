using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Telemetry;
using Orchestrator.Core.Transport;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Worker;

/// <summary>
/// The worker loop of one domain instance: registers, heartbeats, takes its domain's tasks, runs the agent in the
/// attempt's own place (<see cref="IWorkspaceIsolation"/>), and reports each result with the files it changed and
/// what became of them (committed, merged, or conflicting). Stopping it stops taking tasks, lets running ones finish
/// within the grace period, fails the rest with a reason, and deregisters.
/// </summary>
public sealed partial class DomainWorker(
    WorkerOptions options,
    IWorkerTransport transport,
    IAgentDirectory directory,
    IAgentRunner agent,
    IWorkspaceIsolation isolation,
    TimeProvider time,
    ILogger<DomainWorker> logger)
{
    private int _running;
    private long _heartbeatAt;
    private TaskCompletionSource _nextHeartbeat = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string AgentId => options.AgentId;

    /// <summary>
    /// This start of the worker, new for every instance (a restarted process under the same <c>AGENT_ID</c> gets another):
    /// registered and named in every start notice, so that the orchestrator tells a restart from a live agent.
    /// </summary>
    public string Incarnation { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>Runs until <paramref name="stoppingToken"/> fires, then shuts down gracefully.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await isolation.SweepLeftoversAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSweepFailed(e, options.AgentId);
        }

        await directory.RegisterAsync(Registration("active"), CancellationToken.None).ConfigureAwait(false);
        MarkHeartbeat();
        LogRegistered(options.AgentId, options.DomainType, options.Concurrency, Incarnation);

        using var killRunning = new CancellationTokenSource();
        var markedStopping = Task.CompletedTask;
        await using var graceOnStop = stoppingToken.Register(() =>
        {
            markedStopping = directory.SetStatusAsync(options.AgentId, "stopping", CancellationToken.None);
            killRunning.CancelAfter(options.ShutdownGrace);
        });

        var heartbeat = HeartbeatAsync(stoppingToken);
        var consumers = Enumerable.Range(0, options.Concurrency)
            .Select(_ => ConsumeAsync(stoppingToken, killRunning.Token))
            .ToArray();
        await Task.WhenAll(consumers).ConfigureAwait(false);
        await heartbeat.ConfigureAwait(false);
        await markedStopping.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false); // before the record goes

        await directory.DeregisterAsync(options.AgentId, CancellationToken.None).ConfigureAwait(false);
        LogDeregistered(options.AgentId);
    }

    private async Task HeartbeatAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.HeartbeatInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    if (await directory.HeartbeatAsync(options.AgentId, stoppingToken).ConfigureAwait(false))
                    {
                        MarkHeartbeat();
                    }
                    else
                    {
                        await directory.RegisterAsync(Registration(_running > 0 ? "busy" : "active"), stoppingToken).ConfigureAwait(false);
                        MarkHeartbeat();
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogHeartbeatFailed(e, options.AgentId);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The registry record; registering again (after the record was lost) keeps this start's incarnation.</summary>
    private AgentInfo Registration(string status) => new()
    {
        AgentId = options.AgentId,
        Role = options.Role,
        DomainType = options.DomainType,
        Status = status,
        ContainerId = options.ContainerId,
        Concurrency = options.Concurrency,
        Incarnation = Incarnation,
    };

    private async Task ConsumeAsync(CancellationToken stopTaking, CancellationToken killRunning)
    {
        while (!stopTaking.IsCancellationRequested)
        {
            TaskLease? lease;
            try
            {
                await WhileHeartbeatIsStaleAsync(stopTaking).ConfigureAwait(false);
                lease = await transport.TakeAsync(options.DomainType, options.TakeWait, stopTaking).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopTaking.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogTakeFailed(e, options.DomainType);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stopTaking).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                continue;
            }

            if (lease is not null)
            {
                await RunOneAsync(lease, killRunning).ConfigureAwait(false);
            }
        }
    }

    private void MarkHeartbeat()
    {
        Volatile.Write(ref _heartbeatAt, time.GetTimestamp());
        Interlocked.Exchange(ref _nextHeartbeat, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Holds a consumer back while this worker's heartbeat is older than its TTL, until the next one succeeds.</summary>
    private async Task WhileHeartbeatIsStaleAsync(CancellationToken stopTaking)
    {
        while (true)
        {
            var next = Volatile.Read(ref _nextHeartbeat).Task;
            if (time.GetElapsedTime(Volatile.Read(ref _heartbeatAt)) < options.HeartbeatTtl)
            {
                return;
            }

            LogStale(options.AgentId, options.HeartbeatTtl.TotalSeconds);
            await next.WaitAsync(stopTaking).ConfigureAwait(false);
        }
    }

    private async Task RunOneAsync(TaskLease lease, CancellationToken killRunning)
    {
        TaskMessage message;
        try
        {
            message = TaskMessage.Parse(lease.RawMessage);
        }
        catch (Exception e)
        {
            // Whatever a message holds, it is rejected, never allowed to end this consumer.
            await RejectAsync(lease, e is WireFormatException ? e.Message : $"the message cannot be read: {e.Message}").ConfigureAwait(false);
            return;
        }

        if (!SafeNames.IsTaskId(message.TaskId))
        {
            // It would name the attempt's branch, folder and log: refused before it can steer any of them.
            await RejectAsync(lease, $"'task_id' '{message.TaskId}' is not a valid id (letters, digits, - and _, at most 128)").ConfigureAwait(false);
            return;
        }

        Interlocked.Increment(ref _running);
        using var activity = OrchestratorTelemetry.Start("orchestrator.run", ActivityKind.Consumer, message.TraceParent, message.TaskId);
        activity?.SetTag("orchestrator.agent_id", options.AgentId).SetTag("orchestrator.domain", options.DomainType);
        var startedAt = time.GetUtcNow();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(killRunning, lease.Withdrawn);
        try
        {
            AgentOutcome outcome;
            AttemptReport report;
            IReadOnlyList<string> lastLines;
            var notice = new StartNotice(() => ReportStartedAsync(lease, message, startedAt));
            await using (var log = new LogBatcher(
                async lines =>
                {
                    await notice.BeforeOutputAsync().ConfigureAwait(false);
                    await transport.AppendLogsAsync(message.TaskId, lines, CancellationToken.None).ConfigureAwait(false);
                },
                options.LogFlushInterval, options.LogBatchLines, time, options.MaxLogBytes))
            {
                log.AddNotice($"{options.AgentId} started the task (attempt {message.Attempt})");
                (outcome, report) = await RunIsolatedAsync(lease, message, log, notice, startedAt, stop.Token).ConfigureAwait(false);
                if (log.Truncated)
                {
                    LogOutputTruncated(message.TaskId, options.MaxLogBytes);
                }

                activity?.SetStatus(outcome.Succeeded ? ActivityStatusCode.Ok : ActivityStatusCode.Error, outcome.StopReason);
                log.AddNotice(outcome.Succeeded
                    ? $"{options.AgentId} completed the task in {outcome.Duration.TotalSeconds:0.0} s{Describe(report)}"
                    : $"{options.AgentId} failed the task: {ErrorOf(outcome, killRunning)}{Describe(report)}");
                lastLines = await log.HandOverAsync().ConfigureAwait(false); // they travel with the result: one round trip, not two
            }

            // A notice sent went before: the log's batches wait for it, and the log was handed over before the result.
            // A run the orchestrator took back (cancel or re-dispatch) has its last lines kept and no result written.
            await transport.CompleteAsync(lease, ResultOf(message, outcome, report, startedAt, killRunning), lastLines, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogReportFailed(e, message.TaskId);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>
    /// The agent in the attempt's own place, then its work recorded (and merged when it completed). A withdrawn
    /// attempt's work is kept on its branch, never merged: the orchestrator no longer expects it.
    /// </summary>
    private async Task<(AgentOutcome, AttemptReport)> RunIsolatedAsync(
        TaskLease lease, TaskMessage message, LogBatcher log, StartNotice notice, DateTimeOffset startedAt, CancellationToken stop)
    {
        IIsolatedAttempt attempt;
        try
        {
            attempt = await isolation.BeginAsync(message, stop).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await notice.AgentEndedAsync().ConfigureAwait(false); // it never ran: its result says so alone
            var reason = e is OperationCanceledException ? "Stopped before it finished" : $"The attempt's worktree could not be prepared: {e.Message}";
            return (new AgentOutcome(null, reason, "", time.GetUtcNow() - startedAt), AttemptReport.NotIsolated);
        }

        await using (attempt.ConfigureAwait(false))
        {
            AgentOutcome outcome;
            try
            {
                var prompt = PromptBuilder.Build(message, options.DomainType, attempt.Directory);
                outcome = await agent.RunAsync(new AgentRun(message, prompt, attempt.Directory, options.DomainType), log.Add, stop).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                var reason = e is OperationCanceledException ? "Stopped before it finished" : $"The agent could not run: {e.Message}";
                outcome = new AgentOutcome(null, reason, "", time.GetUtcNow() - startedAt);
            }
            finally
            {
                await notice.AgentEndedAsync().ConfigureAwait(false);
            }

            try
            {
                var completed = outcome.Succeeded && !lease.Withdrawn.IsCancellationRequested;
                return (outcome, await attempt.FinishAsync(completed, options.AgentId, CancellationToken.None).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                LogRecordFailed(e, message.TaskId);
                var failed = outcome with { StopReason = $"The attempt's work could not be recorded: {e.Message}" };
                return (failed, AttemptReport.NotIsolated);
            }
        }
    }

    /// <summary>The start notice; a failure is logged, never thrown: the agent runs on, the notice is tried again with the next output.</summary>
    private async Task<bool> ReportStartedAsync(TaskLease lease, TaskMessage message, DateTimeOffset startedAt)
    {
        try
        {
            var startProof = message.Lease is null ? null : LeaseProof.ForStart(message.Lease, message.TaskId, options.AgentId, Incarnation);
            await transport.MarkStartedAsync(lease, options.AgentId, Incarnation, startedAt, startProof, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception e)
        {
            LogStartNoticeFailed(e, message.TaskId);
            return false;
        }
    }

    private static string Describe(AttemptReport report) => report.Merge switch
    {
        "merged" => $"; merged into {report.MergedInto}",
        "branch" => $"; its work is on branch {report.Branch}",
        "conflict" => $"; NOT merged: {string.Join(", ", report.Conflicts)} conflict with {report.MergedInto} — both versions are kept, this one on branch {report.Branch}"
            + (report.MergeError is { } error ? $" ({error})" : ""),
        "no_changes" => "; it changed no file",
        _ => "",
    };

    private AgentResult ResultOf(TaskMessage message, AgentOutcome outcome, AttemptReport report, DateTimeOffset startedAt, CancellationToken killRunning)
    {
        var output = new JsonObject
        {
            ["stdout"] = outcome.StdoutTail,
            ["files_created"] = ToJson(report.Files.Created),
            ["files_modified"] = ToJson(report.Files.Modified),
            ["files_deleted"] = ToJson(report.Files.Deleted),
            ["exit_code"] = outcome.ExitCode,
            ["duration_ms"] = (long)outcome.Duration.TotalMilliseconds,
            ["agent_id"] = options.AgentId,
        };
        if (outcome.TimedOut)
        {
            output["timed_out"] = true; // for the orchestrator to file it as timed out, not as a failure of the agent
        }

        if (outcome.BudgetExceeded)
        {
            output["budget_exceeded"] = true; // for the orchestrator not to try again: another attempt would spend as much
        }

        if (outcome.Stalled)
        {
            output["stalled"] = true;
        }

        if (outcome.Usage is { } usage)
        {
            output["usage"] = UsageJson.ToJson(usage);
        }

        if (report.Merge is not null)
        {
            output["base_commit"] = report.BaseCommit;
            output["branch"] = report.Branch;
            output["commit"] = report.Commit;
            output["merge"] = report.Merge;
            output["merged_into"] = report.MergedInto;
            output["conflicts"] = ToJson(report.Conflicts);
            if (report.MergeError is not null)
            {
                output["merge_error"] = report.MergeError;
            }
        }

        var outputJson = output.ToJsonString();
        var error = outcome.Succeeded ? null : ErrorOf(outcome, killRunning);
        var diffJson = report.DiffOfOutcome() is { } diff ? DiffRecord.ToJson(diff).ToJsonString() : null;
        return new AgentResult
        {
            TaskId = message.TaskId,
            Succeeded = outcome.Succeeded,
            OutputJson = outputJson,
            Error = error,
            StartedAt = startedAt,
            CompletedAt = time.GetUtcNow(),
            AgentId = options.AgentId,
            LeaseProof = message.Lease is null ? null : LeaseProof.ForResult(message.Lease, message.TaskId, outcome.Succeeded, outputJson, error),
            DiffJson = diffJson,
            DiffProof = message.Lease is null || diffJson is null ? null : LeaseProof.ForDiff(message.Lease, message.TaskId, diffJson),
        };
    }

    private static string ErrorOf(AgentOutcome outcome, CancellationToken killRunning) => outcome switch
    {
        { StopReason: not null } when killRunning.IsCancellationRequested => "The worker was stopped before the task finished (shutdown grace period over)",
        { StopReason: { } reason } => reason,
        { ExitCode: 127 } => "Agent exited with code 127: its command was not found (check Domains:Agent:Command)",
        { ExitCode: { } code } when code != 0 => $"Agent exited with code {code}",
        _ => "",
    };

    /// <summary>A message that cannot be run: fail it with the reason when its task id can be read, else drop it. Either way, log the key.</summary>
    private async Task RejectAsync(TaskLease lease, string reason)
    {
        var taskId = TaskIdPattern().Match(lease.RawMessage) is { Success: true } match ? match.Groups[1].Value : null;
        LogMalformed($"tasks:active:{lease.Domain}", taskId ?? "(unreadable)", reason);
        if (taskId is null)
        {
            await transport.DiscardAsync(lease, CancellationToken.None).ConfigureAwait(false);
            return;
        }

        var now = time.GetUtcNow();
        await transport.CompleteAsync(lease, new AgentResult
        {
            TaskId = taskId,
            Succeeded = false,
            Error = $"Malformed task message: {reason}",
            StartedAt = now,
            CompletedAt = now,
            AgentId = options.AgentId,
        }, [], CancellationToken.None).ConfigureAwait(false);
    }

    private static JsonArray ToJson(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)i).ToArray());

    [GeneratedRegex("\"task_id\"\\s*:\\s*\"([^\"]{1,200})\"")]
    private static partial Regex TaskIdPattern();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending the start notice of {TaskId} failed; the agent runs on, and the notice is tried again with its next output")]
    private partial void LogStartNoticeFailed(Exception exception, string taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {AgentId} registered for domain {DomainType} with concurrency {Concurrency} (incarnation {Incarnation})")]
    private partial void LogRegistered(string agentId, string domainType, int concurrency, string incarnation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {AgentId} deregistered")]
    private partial void LogDeregistered(string agentId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of {AgentId} failed")]
    private partial void LogHeartbeatFailed(Exception e, string agentId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {AgentId} takes no task: its last heartbeat is older than {TtlSeconds} s")]
    private partial void LogStale(string agentId, double ttlSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking a task of domain {Domain} failed; trying again")]
    private partial void LogTakeFailed(Exception e, string domain);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reporting the result of task {TaskId} failed")]
    private partial void LogReportFailed(Exception e, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removing leftovers of earlier attempts failed for {AgentId}; they stay until the next start")]
    private partial void LogSweepFailed(Exception e, string agentId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Recording the work of task {TaskId} in its worktree failed")]
    private partial void LogRecordFailed(Exception e, string taskId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The agent output of task {TaskId} passed {MaxBytes} bytes; the rest was dropped from its log")]
    private partial void LogOutputTruncated(string taskId, long maxBytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Malformed message in {Key} (task {TaskId}): {Reason}")]
    private partial void LogMalformed(string key, string taskId, string reason);
}
