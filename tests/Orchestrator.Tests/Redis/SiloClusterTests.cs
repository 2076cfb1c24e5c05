using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Redis;

/// <summary>Real silo processes on a real redis-server: restarts and a two-silo cluster losing a member.</summary>
public sealed class SiloClusterTests
{
    /// <summary>Short timings so that a lost worker is noticed in about two seconds instead of thirty.</summary>
    private static Dictionary<string, string> Settings(RedisServer redis, TempDirectory dir) => new()
    {
        ["Redis:ConnectionString"] = redis.ConnectionString,
        ["Domains:Workspace"] = dir.File("workspace"),
        // The agent waits for the test's go-ahead, then records its run (outside the workspace: concurrent
        // appends to one workspace file from isolated runs would rightly conflict).
        ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
            for i in $(seq 1 600); do [ -f '{dir.File("release")}' ] && break; sleep 0.1; done
            echo "$TASK_ID" >> '{dir.File("runs.txt")}'
            echo "ran $TASK_ID"
            """),
        ["Domains:Agent:HeartbeatInterval"] = "00:00:00.500",
        ["Domains:Agent:ShutdownGrace"] = "00:00:01",
        ["Orchestrator:HeartbeatTtl"] = "00:00:02",
        ["Orchestrator:HealthCheckInterval"] = "00:00:00.500",
        ["Orchestrator:SchedulerTick"] = "00:00:00.200",
        ["Orchestrator:Retry:MaxAttempts"] = "3",
        ["Orchestrator:Retry:InitialBackoff"] = "00:00:00.100",
        // The silos of one cluster share one access token, as silos on one machine do by default.
        ["Web:TokenFile"] = dir.File("token"),
    };

    [RedisFact]
    public async Task A_task_running_when_its_silo_is_killed_completes_exactly_once_after_the_restart_with_its_log_intact()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var settings = Settings(redis, dir);
        string taskId;
        var silo = await SiloProcess.StartAsync(settings);
        await using (silo)
        {
            await using var connection = await silo.ConnectAsync(redis.ConnectionString);
            taskId = (await connection.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId;
            await WaitForAsync(connection, taskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
            await silo.KillAsync();
        }

        await using var restarted = await SiloProcess.StartAsync(settings, restartOf: silo);
        await using var again = await restarted.ConnectAsync(redis.ConnectionString);
        File.WriteAllText(dir.File("release"), "");
        var result = await WaitForAsync(again, taskId, t => t.State.IsFinal());
        var log = await again.Client.GetLogsAsync(taskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Single(File.ReadAllLines(dir.File("runs.txt")));
        Assert.Contains(log.Entries, e => e.Line.Contains("Dispatched to the backend domain (attempt 1)"));
        Assert.Contains(log.Entries, e => e.Line.Contains("stopped heart-beating while it ran attempt 1"));
        Assert.Single(log.Entries, e => e.Line.EndsWith("] Completed"));
    }

    [RedisFact]
    public async Task Two_silos_form_one_cluster_and_tasks_in_flight_complete_when_one_of_them_stops()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var settings = Settings(redis, dir);
        await using var first = await SiloProcess.StartAsync(settings);
        await using var second = await SiloProcess.StartAsync(settings);
        await using var connection = await second.ConnectAsync(redis.ConnectionString);

        var tasks = new List<string>();
        foreach (var description in new[] { "Add an API endpoint", "Build a login form component", "Deploy with docker", "Create user registration with form and API" })
        {
            tasks.Add((await connection.Client.SubmitAsync(new TaskSubmission { Description = description })).TaskId);
        }

        // Status 3 is Active in the Redis membership table.
        Assert.Equal(2, (await redis.Db.HashGetAllAsync("orchestrator/members/orchestrator")).Count(e => e.Value.ToString().Contains("\"Status\":3")));
        await first.StopAsync();
        File.WriteAllText(dir.File("release"), "");
        var results = new List<TaskView>();
        foreach (var id in tasks)
        {
            results.Add(await WaitForAsync(connection, id, t => t.State.IsFinal()));
        }

        // Each part's state and error in the failure: the cluster's processes are gone by the time anyone reads it.
        Assert.All(results, r => Assert.True(r.State == TaskState.Completed,
            $"{r.TaskId} {r.State.ToWire()}: {string.Join("; ", r.Subtasks.Select(s => $"{s.Domain} {s.State.ToWire()} after {s.Attempts} attempt(s): {s.Error}"))}"));
    }

    private static async Task<TaskView> WaitForAsync(Orchestrator.Client.OrchestratorConnection connection, string taskId, Func<TaskView, bool> condition)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await foreach (var update in connection.Client.WatchAsync(taskId, bound.Token))
            {
                if (condition(update.Task))
                {
                    return update.Task;
                }
            }
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            var view = await connection.Client.GetAsync(taskId);
            var log = await connection.Client.GetLogsAsync(taskId);
            throw new Xunit.Sdk.XunitException($"Task {taskId} stuck in {view.State}:\n{string.Join("\n", log.Entries.Select(e => e.Line))}");
        }

        throw new Xunit.Sdk.XunitException($"Task {taskId} finished without reaching the awaited state");
    }
}
