using System.Collections.Concurrent;
using Orchestrator.Contracts;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Performance;

/// <summary>
/// What a task costs in grain state writes, the largest part of its cost on Redis: each write is a round trip and a
/// script. A change that adds one shows here, not only as a slower benchmark.
/// </summary>
public sealed class StateWriteTests
{
    [Fact]
    public async Task A_single_domain_task_whose_agent_ends_at_once_is_written_twice_by_its_task_and_twice_by_its_subtask()
    {
        var writes = new ConcurrentQueue<string>();
        // The benchmark's agent: it ends long before the attempt's log is first sent (its flush interval, 250 ms, after it begins).
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" }, Recording(writes).Install);

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        // Queued and completed; the task: accepted, and its final state. A dispatch is not written (the scheduler's slot
        // holds it), nor an attempt's start that its result already reports, nor the task's view of a subtask that
        // stored its own change.
        Assert.Equal(["subtask pending", "subtask completed", "task completed"], writes.Where(w => w != "task pending").ToArray());
        Assert.Single(writes, w => w == "task pending");
        Assert.NotNull(result.Subtasks.Single().StartedAt);
    }

    [Fact]
    public async Task An_agent_still_running_when_its_log_is_first_sent_is_written_in_progress_first()
    {
        var writes = new ConcurrentQueue<string>();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // Blocks until the test has seen the attempt in progress: no race with the log's flush, however slow the machine.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"echo working; read go < '{dir.File("go")}'; echo done > api.txt"),
        }, Recording(writes).Install);
        await cluster.Dir.FifoAsync("go");

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        await WatchUntilWorkingAsync(cluster, task.TaskId);

        await File.WriteAllTextAsync(cluster.Dir.File("go"), "go\n");
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(["subtask pending", "subtask in_progress", "subtask completed", "task completed"], writes.Where(w => w != "task pending").ToArray());
    }

    [Fact]
    public async Task A_new_task_and_its_subtask_read_no_state_the_call_that_creates_each_stores_it()
    {
        var reads = new ConcurrentQueue<string>();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // Held until the reads are counted: a finished task's grains are let go, and a call after that reads them.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"echo working; read go < '{dir.File("go")}'"),
        }, new GrainStorageInterceptor(_ => Task.CompletedTask, Counted(reads)).Install);
        await cluster.Dir.FifoAsync("go");

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        await WatchUntilWorkingAsync(cluster, task.TaskId);

        Assert.DoesNotContain(TaskGrain.StateName, reads);
        Assert.DoesNotContain(SubtaskGrain.StateName, reads);
        await File.WriteAllTextAsync(cluster.Dir.File("go"), "go\n");
        Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(task.TaskId, seconds: 30)).State);
    }

    [Fact]
    public async Task A_subtask_whose_attempt_reports_no_diff_reads_no_diff_state_until_asked_for_one()
    {
        var reads = new ConcurrentQueue<string>();
        await using var cluster = await OrchestratorCluster.StartAsync(
            _ => new() { ["Domains:Agent:Kind"] = "noop" }, // the benchmark's agent: not isolated, so no diff
            new GrainStorageInterceptor(_ => Task.CompletedTask, Counted(reads)).Install);

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.DoesNotContain(SubtaskGrain.DiffStateName, reads); // read when asked for (`orchestrator diff`) or replaced, not at activation
        Assert.Empty(await cluster.ClusterClient.GetGrain<ITaskGrain>(task.TaskId).GetDiff(null));
        Assert.Contains(SubtaskGrain.DiffStateName, reads);
    }

    /// <summary>Follows the task until its one part runs and shows it so, with the agent that runs it.</summary>
    private static async Task WatchUntilWorkingAsync(OrchestratorCluster cluster, string taskId)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var update in cluster.Client.WatchAsync(taskId, bound.Token))
        {
            // Its output is never shown while it still reads as queued.
            if (update.Logs.Any(l => l.Line.EndsWith("working")) || update.Task.Subtasks.Single().State == SubtaskState.InProgress)
            {
                Assert.Equal(SubtaskState.InProgress, update.Task.Subtasks.Single().State);
                Assert.StartsWith("backend-", update.Task.Subtasks.Single().AgentId);
                return;
            }
        }
    }

    private static GrainStorageInterceptor Recording(ConcurrentQueue<string> writes) => new(state =>
    {
        switch (state)
        {
            case TaskGrainState task:
                writes.Enqueue($"task {task.State.ToWire()}");
                break;
            case SubtaskGrainState subtask:
                writes.Enqueue($"subtask {subtask.State.ToWire()}");
                break;
        }

        return Task.CompletedTask;
    });

    /// <summary>Each read's state name, in <paramref name="reads"/>.</summary>
    private static Func<string, Task> Counted(ConcurrentQueue<string> reads) => name =>
    {
        reads.Enqueue(name);
        return Task.CompletedTask;
    };
}
