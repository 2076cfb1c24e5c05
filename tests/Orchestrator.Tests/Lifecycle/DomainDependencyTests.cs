using System.Diagnostics;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Isolation;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Lifecycle;

/// <summary>Domains that start after others (--after, Routing:After): order, the result handed on, failure, retry, cycles.</summary>
public sealed class DomainDependencyTests
{
    private static TaskSubmission Registration(params DomainDependency[] after) => new()
    {
        Description = "Create user registration with form and API",
        Domains = ["backend", "frontend"],
        After = after,
    };

    private static readonly DomainDependency FrontendAfterBackend = new("frontend", "backend");

    /// <summary>
    /// Each agent saves its prompt under <c>prompts/</c>. The backend writes api.js, prints a line to find again and, as its
    /// very last act, a marker; the frontend fails unless that marker and api.js are there when it starts.
    /// </summary>
    /// <param name="backendFailsFirst">The backend's first run fails (exit 3) before doing anything.</param>
    private static string OrderedAgents(TempDirectory dir, bool backendFailsFirst = false)
    {
        Directory.CreateDirectory(dir.File("prompts"));
        var failOnce = backendFailsFirst
            ? $"if [ $DOMAIN_TYPE = backend ] && [ ! -f '{dir.File("failed-once")}' ]; then touch '{dir.File("failed-once")}'; exit 3; fi"
            : "";
        return dir.Script("agent.sh", $"""
            {failOnce}
            cat > '{dir.File("prompts")}'/$DOMAIN_TYPE.txt
            case $DOMAIN_TYPE in
            backend)
              echo 'export const register = () => 201;' > api.js
              echo 'backend: POST /api/users/register is served by api.js'
              touch '{dir.File("backend.done")}' ;;
            frontend)
              if [ ! -f '{dir.File("backend.done")}' ]; then echo 'started before the backend finished' >&2; exit 4; fi
              if [ ! -f api.js ]; then echo 'api.js is not in the worktree' >&2; exit 5; fi
              echo 'export const form = 1;' > form.js ;;
            esac
            """);
    }

    [Fact]
    public async Task A_dependent_domain_starts_after_its_dependency_completed_and_its_prompt_holds_that_result()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = OrderedAgents(dir) });
        await GitRepository.InitAsync(cluster.Workspace);

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend))).TaskId);

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(result.TaskId));
        var backend = result.Subtasks.Single(s => s.Domain == "backend");
        Assert.Equal(["backend"], result.Subtasks.Single(s => s.Domain == "frontend").After);
        var prompt = File.ReadAllText(cluster.Dir.File("prompts/frontend.txt"));
        Assert.Contains("## Work this task builds on", prompt);
        Assert.Contains($"### backend (commit {ResultAggregator.TextOf(backend, "commit")})", prompt);
        Assert.Contains("- Created: api.js", prompt);
        Assert.Contains("backend: POST /api/users/register is served by api.js", prompt);
        Assert.DoesNotContain("## Work this task builds on", File.ReadAllText(cluster.Dir.File("prompts/backend.txt")));
    }

    [Fact]
    public async Task A_dependent_shows_as_waiting_for_its_dependency_while_that_runs()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            // The backend holds until the test writes to the pipe.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"[ $DOMAIN_TYPE = backend ] && read -r line < '{dir.File("gate")}'\nexit 0"),
        });
        await cluster.Dir.FifoAsync("gate");

        var submitted = await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend));
        var running = await cluster.WaitUntilAsync(submitted.TaskId, t => t.Subtasks.Single(s => s.Domain == "backend").State == SubtaskState.InProgress);

        var frontend = running.Subtasks.Single(s => s.Domain == "frontend");
        Assert.Equal(SubtaskState.Pending, frontend.State);
        Assert.Equal(["backend"], frontend.WaitingFor);
        var json = ResultAggregator.ToResultJson(running)["subtasks"]!.AsArray().Single(s => (string?)s!["domain"] == "frontend")!;
        Assert.Equal(["backend"], json["waiting_for"]!.AsArray().Select(d => (string?)d));
        await File.WriteAllTextAsync(cluster.Dir.File("gate"), "go\n");
        var result = await cluster.ResultAsync(submitted.TaskId);
        Assert.Equal(TaskState.Completed, result.State);
        Assert.All(result.Subtasks, s => Assert.Empty(s.WaitingFor));
    }

    [Fact]
    public async Task Cancelling_a_task_cancels_a_waiting_dependent_without_ever_starting_it()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"[ $DOMAIN_TYPE = frontend ] && touch '{dir.File("frontend.ran")}'\nexec sleep 600"),
        });
        var submitted = await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend));
        await cluster.WaitUntilAsync(submitted.TaskId, t => t.Subtasks.Single(s => s.Domain == "backend").State == SubtaskState.InProgress);

        await cluster.Client.CancelAsync(submitted.TaskId);
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Cancelled, result.State);
        var frontend = result.Subtasks.Single(s => s.Domain == "frontend");
        Assert.Equal(SubtaskState.Cancelled, frontend.State);
        Assert.Equal("Cancelled by the user before it started", frontend.Error);
        Assert.False(File.Exists(cluster.Dir.File("frontend.ran")));
    }

    [Fact]
    public async Task A_failed_dependency_fails_its_dependent_with_a_reason_naming_it_and_the_dependent_never_runs()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
                [ $DOMAIN_TYPE = frontend ] && touch '{dir.File("frontend.ran")}'
                echo 'the schema does not compile' >&2
                exit 3
                """),
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend))).TaskId);

        var backend = result.Subtasks.Single(s => s.Domain == "backend");
        var frontend = result.Subtasks.Single(s => s.Domain == "frontend");
        Assert.Equal(TaskState.Failed, result.State);
        Assert.Equal(SubtaskState.Failed, backend.State);
        Assert.Equal(SubtaskState.Failed, frontend.State);
        Assert.Equal($"dependency backend failed: {backend.Error}", frontend.Error);
        Assert.False(File.Exists(cluster.Dir.File("frontend.ran")));
    }

    [Fact]
    public async Task Retrying_a_task_runs_its_failed_dependency_again_and_then_its_dependent_with_the_new_result()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = OrderedAgents(dir, backendFailsFirst: true) });
        await GitRepository.InitAsync(cluster.Workspace);
        var failed = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend))).TaskId);
        Assert.Equal(TaskState.Failed, failed.State);
        Assert.StartsWith("dependency backend failed: ", failed.Subtasks.Single(s => s.Domain == "frontend").Error);

        var retried = await cluster.Client.RetryAsync(failed.TaskId);
        Assert.Equal(["backend"], retried.Subtasks.Single(s => s.Domain == "frontend").WaitingFor);
        var result = await cluster.ResultAsync(failed.TaskId);

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(result.TaskId)); // the frontend checked the order itself
        Assert.Contains("- Created: api.js", File.ReadAllText(cluster.Dir.File("prompts/frontend.txt")));
    }

    [Fact]
    public async Task A_routing_rule_orders_two_domains_when_both_are_in_the_plan()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = OrderedAgents(dir),
            ["Routing:After:frontend:0"] = "backend",
        });
        await GitRepository.InitAsync(cluster.Workspace);

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration())).TaskId);

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(result.TaskId)); // the frontend checked the order itself
        Assert.Equal(["backend"], result.Subtasks.Single(s => s.Domain == "frontend").After);
        Assert.Contains("- Created: api.js", File.ReadAllText(cluster.Dir.File("prompts/frontend.txt")));
    }

    [Fact]
    public async Task A_dependent_whose_start_failed_once_is_started_when_its_dependencys_completion_is_said_again()
    {
        var failed = 0;
        var storage = new GrainStorageInterceptor(state =>
            state is SubtaskGrainState { Spec.Domain: "frontend" } && Interlocked.Exchange(ref failed, 1) == 0
                ? Task.FromException(new TimeoutException("simulated: the store did not answer the dependent's first write"))
                : Task.CompletedTask);
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = OrderedAgents(dir) }, storage.Install);
        await GitRepository.InitAsync(cluster.Workspace);

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration(FrontendAfterBackend))).TaskId, seconds: 30);

        Assert.Equal(1, failed);
        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(result.TaskId));
    }

    [RedisFact]
    public async Task A_dependent_waiting_when_its_silo_is_killed_starts_after_the_restart_once_its_dependency_completes()
    {
        await using var redis = await RedisServer.StartAsync();
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        Directory.CreateDirectory(dir.File("prompts"));
        var settings = new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Web:TokenFile"] = dir.File("token"),
            // The backend's first run hangs until the silo (and it with it) is killed; its next run completes.
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"""
                cat > '{dir.File("prompts")}'/$DOMAIN_TYPE.txt
                if [ $DOMAIN_TYPE = backend ] && [ ! -f '{dir.File("hung-once")}' ]; then touch '{dir.File("hung-once")}'; exec sleep 600; fi
                echo "$DOMAIN_TYPE done" > $DOMAIN_TYPE.txt
                echo "$DOMAIN_TYPE finished its part"
                """),
            ["Orchestrator:HeartbeatTtl"] = "00:00:03",
            ["Orchestrator:Retry:MaxAttempts"] = "3",
            ["Orchestrator:Retry:InitialBackoff"] = "00:00:00.100",
        };
        var silo = await SiloProcess.StartAsync(settings);
        string taskId;
        await using (silo)
        {
            await using var connection = await silo.ConnectAsync(redis.ConnectionString);
            taskId = (await connection.Client.SubmitAsync(Registration(FrontendAfterBackend))).TaskId;
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await foreach (var update in connection.Client.WatchAsync(taskId, bound.Token))
            {
                if (update.Task.Subtasks.Single(s => s.Domain == "backend").State == SubtaskState.InProgress)
                {
                    Assert.Equal(["backend"], update.Task.Subtasks.Single(s => s.Domain == "frontend").WaitingFor);
                    break;
                }
            }

            await silo.KillAsync();
        }

        await using var restarted = await SiloProcess.StartAsync(settings, restartOf: silo);
        await using var reconnected = await restarted.ConnectAsync(redis.ConnectionString);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var result = await reconnected.Client.WaitForResultAsync(taskId, wait.Token);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(2, result.Subtasks.Single(s => s.Domain == "backend").Attempts);
        Assert.Equal(1, result.Subtasks.Single(s => s.Domain == "frontend").Attempts);
        Assert.Contains("backend finished its part", File.ReadAllText(dir.File("prompts/frontend.txt")));
    }
}
