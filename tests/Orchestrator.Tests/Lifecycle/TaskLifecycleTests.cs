using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Core.Aggregation;
using Orchestrator.Core.Protocol;
using Orchestrator.Core.Transport;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Lifecycle;

/// <summary>The task lifecycle on an Orleans test cluster, with real agent processes in a real workspace.</summary>
public sealed class TaskLifecycleTests
{
    private const string WritesDomainFile = """
        mkdir -p out && cat > "out/$DOMAIN_TYPE.txt"
        echo "wrote out/$DOMAIN_TYPE.txt"
        """;

    private static TaskSubmission Registration(int? timeout = null) => new()
    {
        Description = "Create user registration with form and API",
        Requirements = ["POST /api/users/register", "Build registration form component"],
        TimeoutSeconds = timeout,
    };

    [Fact]
    public async Task A_two_domain_task_completes_with_the_files_its_agents_wrote()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", WritesDomainFile) });

        var submitted = await cluster.Client.SubmitAsync(Registration());
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.True(result.State == TaskState.Completed, await cluster.DescribeAsync(submitted.TaskId));
        Assert.Equal(["backend", "frontend"], result.Subtasks.Select(s => s.Domain));
        Assert.Contains("out/backend.txt", ResultAggregator.FilesOf(result.Subtasks[0], "files_created"));
        Assert.Contains("out/frontend.txt", ResultAggregator.FilesOf(result.Subtasks[1], "files_created"));
        Assert.Contains("POST /api/users/register", File.ReadAllText(Path.Combine(cluster.Workspace, "out/backend.txt")));
        var json = ResultAggregator.ToResultJson(result);
        Assert.Equal(2, json["files_created"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_domain_whose_agent_fails_leaves_the_task_partially_completed_with_its_error()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", WritesDomainFile),
            ["Domains:Types:frontend:Command"] = dir.Script("failing.sh", "echo broken >&2\nexit 3"),
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration())).TaskId);

        Assert.Equal(TaskState.PartiallyCompleted, result.State);
        Assert.Equal(SubtaskState.Completed, result.Subtasks.Single(s => s.Domain == "backend").State);
        var frontend = result.Subtasks.Single(s => s.Domain == "frontend");
        Assert.Equal(SubtaskState.Failed, frontend.State);
        Assert.Equal("Agent exited with code 3", frontend.Error);
    }

    [Fact]
    public async Task A_failing_part_is_retried_by_the_policy_until_it_succeeds()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Orchestrator:Retry:MaxAttempts"] = "3",
            ["Domains:Agent:Command"] = dir.Script("flaky.sh", $"""
                echo run >> '{dir.File("runs")}'
                [ "$(wc -l < '{dir.File("runs")}')" -ge 3 ] || exit 1
                """),
        });

        var result = await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(3, result.Subtasks.Single().Attempts);
    }

    [Fact]
    public async Task A_timeout_is_enforced_by_the_orchestrator_even_when_the_worker_ignores_it()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = "exit 99" });
        var rogue = new HangingAgentRunner();
        cluster.StartExternalWorker("backend-0000r0g0", "backend", rogue, TimeSpan.FromMilliseconds(200));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint", TimeoutSeconds = 1 });
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Failed, result.State);
        var subtask = result.Subtasks.Single();
        Assert.Equal(SubtaskState.TimedOut, subtask.State);
        Assert.StartsWith("Timed out after 1 s", subtask.Error);
    }

    [Fact]
    public async Task Retry_reruns_only_the_parts_that_did_not_complete()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"echo \"$DOMAIN_TYPE\" >> '{dir.File("runs")}'\n" + WritesDomainFile),
            ["Domains:Types:frontend:Command"] = dir.Script("needs-flag.sh", $"echo frontend >> '{dir.File("runs")}'\n[ -f '{dir.File("flag")}' ] || exit 2"),
        });
        var first = await cluster.ResultAsync((await cluster.Client.SubmitAsync(Registration())).TaskId);
        Assert.Equal(TaskState.PartiallyCompleted, first.State);

        File.WriteAllText(cluster.Dir.File("flag"), "");
        await cluster.Client.RetryAsync(first.TaskId);
        var second = await cluster.ResultAsync(first.TaskId);

        Assert.Equal(TaskState.Completed, second.State);
        Assert.Equal(1, second.Subtasks.Single(s => s.Domain == "backend").Attempts);
        Assert.Equal(2, second.Subtasks.Single(s => s.Domain == "frontend").Attempts);
        Assert.Equal(["backend", "frontend", "frontend"], File.ReadAllLines(cluster.Dir.File("runs")).Order());
    }

    [Fact]
    public async Task Retrying_a_task_that_is_still_running_is_refused()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = "sleep 300" });
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });

        var error = await Assert.ThrowsAsync<TaskConflictException>(() => cluster.Client.RetryAsync(submitted.TaskId));

        Assert.Contains("only a finished task can be retried", error.Message);
        await cluster.Client.CancelAsync(submitted.TaskId);
    }

    [Fact]
    public async Task Cancel_stops_the_running_agents_and_marks_the_task_cancelled()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("slow.sh", $"echo $$ > '{dir.File("agent.pid")}'\nexec sleep 300"),
        });
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await cluster.WaitUntilAsync(submitted.TaskId, t => t.Subtasks.All(s => s.State == SubtaskState.InProgress));
        // The worker reports the start before its agent process is up.
        await Eventually.TrueAsync(() => File.Exists(cluster.Dir.File("agent.pid")), "the agent never started");

        var cancelled = await cluster.Client.CancelAsync(submitted.TaskId);

        Assert.Equal(TaskState.Cancelled, cancelled.State);
        Assert.Equal("Cancelled by the user", cancelled.Subtasks.Single().Error);
        var pid = int.Parse(File.ReadAllText(cluster.Dir.File("agent.pid")).Trim());
        await Eventually.TrueAsync(() => !Directory.Exists($"/proc/{pid}"), $"agent process {pid} still runs after cancel");
    }

    [Fact]
    public async Task Higher_priority_work_is_dispatched_first_within_a_domain()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("ordered.sh", $$"""
                task=$(awk 'f { print; exit } /^## Task$/ { f = 1 }' "$PROMPT_FILE")
                if [ "$task" = "API blocker" ]; then
                  for i in $(seq 1 600); do [ -f '{{dir.File("release")}}' ] && exit 0; sleep 0.1; done
                  exit 1
                fi
                echo "$task" >> '{{dir.File("order")}}'
                """),
        });
        var blocker = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "API blocker" });
        await cluster.WaitUntilAsync(blocker.TaskId, t => t.Subtasks.All(s => s.State == SubtaskState.InProgress));

        var queued = new List<TaskView>();
        foreach (var priority in new[] { TaskPriority.Low, TaskPriority.Normal, TaskPriority.Low, TaskPriority.High, TaskPriority.Normal, TaskPriority.High })
        {
            queued.Add(await cluster.Client.SubmitAsync(new TaskSubmission { Description = $"API {priority.ToWire()} {queued.Count}", Priority = priority }));
        }

        File.WriteAllText(cluster.Dir.File("release"), "");
        foreach (var task in queued)
        {
            Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(task.TaskId)).State);
        }

        Assert.Equal(["API high 3", "API high 5", "API normal 1", "API normal 4", "API low 0", "API low 2"], File.ReadAllLines(cluster.Dir.File("order")));
    }

    [Fact]
    public async Task Work_held_by_an_agent_that_stops_heart_beating_runs_again_on_a_replacement()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Orchestrator:Retry:MaxAttempts"] = "2",
            ["Domains:Agent:Command"] = dir.Script("agent.sh", WritesDomainFile),
        });
        using var silent = new WedgedAgentRunner();
        cluster.StartExternalWorker("backend-5113e47a", "backend", silent, heartbeat: TimeSpan.FromHours(1));

        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await silent.Started.WaitAsync(TimeSpan.FromSeconds(30));
        var result = await cluster.ResultAsync(submitted.TaskId);

        Assert.Equal(TaskState.Completed, result.State);
        var subtask = result.Subtasks.Single();
        Assert.Equal(2, subtask.Attempts);
        Assert.NotEqual("backend-5113e47a", subtask.AgentId);
        var logs = await cluster.Client.GetLogsAsync(submitted.TaskId);
        Assert.Contains(logs.Entries, e => e.Line.Contains("Agent backend-5113e47a stopped heart-beating"));
    }

    [Fact]
    public async Task Watching_a_task_reports_each_change_of_a_subtask_once()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("chatty.sh", "for i in 1 2 3 4 5; do echo \"line $i\"; sleep 0.1; done"),
        });
        var submitted = await cluster.Client.SubmitAsync(Registration());

        var reported = new List<(string TaskId, long Revision)>();
        await foreach (var update in cluster.Client.WatchAsync(submitted.TaskId, new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token))
        {
            reported.AddRange(update.ChangedSubtasks.Select(s => (s.TaskId, s.Revision)));
        }

        Assert.Equal(reported.Distinct().Count(), reported.Count);
        Assert.Equal(2, reported.Select(r => r.TaskId).Distinct().Count());
    }

    [Fact]
    public async Task Logs_are_readable_while_the_task_runs()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("chatty.sh", $"""
                echo "step one done"
                for i in $(seq 1 600); do [ -f '{dir.File("release")}' ] && exit 0; sleep 0.1; done
                exit 1
                """),
        });
        var submitted = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await foreach (var update in cluster.Client.WatchAsync(submitted.TaskId, bound.Token))
        {
            if (update.Logs.Any(l => l.Line.EndsWith("step one done")))
            {
                Assert.Equal(SubtaskState.InProgress, update.Task.Subtasks.Single().State);
                break;
            }
        }

        File.WriteAllText(cluster.Dir.File("release"), "");
        Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(submitted.TaskId)).State);
        var logs = await cluster.Client.GetLogsAsync(submitted.TaskId);
        Assert.Contains(logs.Entries, e => e.Source == "orchestrator" && e.Line.Contains("Routed to backend"));
        Assert.Contains(logs.Entries, e => e.Source == "backend" && e.Line.EndsWith("step one done"));
    }

    [RedisFact]
    public async Task Submitting_a_stored_tasks_id_again_after_its_grains_were_let_go_returns_the_stored_task_and_runs_nothing_again()
    {
        // On Redis: a new task is stored without being read first, so the storage itself must refuse to overwrite one.
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Redis:ConnectionString"] = redis.ConnectionString, ["Domains:Agent:Kind"] = "noop" });
        var request = new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] };
        var task = await cluster.Client.SubmitAsync(request);
        var first = await cluster.ResultAsync(task.TaskId, seconds: 30);
        // A client repeating its call after a lost reply, to an activation that has not read the task yet.
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var again = await cluster.ClusterClient.GetGrain<ITaskGrain>(task.TaskId).Submit(request);

        Assert.Equal(TaskState.Completed, again.State);
        Assert.Equal(first.Subtasks.Single().TaskId, again.Subtasks.Single().TaskId);
        Assert.Equal(first.CreatedAt, again.CreatedAt);
        Assert.Equal(1, (await cluster.ResultAsync(task.TaskId, seconds: 30)).Subtasks.Single().Attempts);
    }

    [Fact]
    public async Task A_submit_repeated_after_the_stored_task_was_found_but_not_yet_taken_up_never_writes_over_it()
    {
        // The subtask's state cannot be read once: the repeated submit finds the task stored, but cannot take its
        // subtasks' word, and fails. The next repeat must go on from what was read, not create the task afresh.
        var failSubtaskRead = 0;
        var storage = new GrainStorageInterceptor(_ => Task.CompletedTask, name =>
        {
            if (name == SubtaskGrain.StateName && Interlocked.Exchange(ref failSubtaskRead, 0) == 1)
            {
                throw new IOException("storage blip");
            }

            return Task.CompletedTask;
        });
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" }, storage.Install);
        var request = new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] };
        var task = await cluster.Client.SubmitAsync(request);
        var first = await cluster.ResultAsync(task.TaskId, seconds: 30);
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var grain = cluster.ClusterClient.GetGrain<ITaskGrain>(task.TaskId);

        failSubtaskRead = 1;
        await Assert.ThrowsAnyAsync<Exception>(() => grain.Submit(request));
        var again = await grain.Submit(request);

        Assert.Equal(TaskState.Completed, again.State);
        Assert.Equal(first.Subtasks.Single().TaskId, again.Subtasks.Single().TaskId);
        Assert.Equal(first.CreatedAt, again.CreatedAt);
    }

    [Fact]
    public async Task A_new_parts_message_waits_for_its_state_and_goes_out_only_with_the_repeat_when_that_write_fails()
    {
        // A new part's state is stored beside its enqueue; here that write fails once it is dispatched.
        var dispatched = new TaskCompletionSource();
        var failed = 0;
        var storage = new GrainStorageInterceptor(async state =>
        {
            if (state is SubtaskGrainState { Revision: 1 } && Interlocked.Exchange(ref failed, 1) == 0)
            {
                await dispatched.Task;
                throw new IOException("storage blip");
            }
        });
        var published = new PublishCounter();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" },
            services => { storage.Install(services); published.Install(services); });
        var request = new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] };
        var grain = cluster.ClusterClient.GetGrain<ITaskGrain>(Guid.NewGuid().ToString());
        var scheduler = cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IDomainSchedulerGrain>("backend");

        var submitting = grain.Submit(request);
        await Eventually.TrueAsync(async () => (await scheduler.GetView()).InFlight == 1, "the part was never handed to its domain");
        dispatched.SetResult();
        await Assert.ThrowsAnyAsync<Exception>(() => submitting);
        var publishedBeforeRepeat = published.Count;
        await grain.Submit(request); // the client's repeat
        var result = await cluster.ResultAsync(grain.GetPrimaryKeyString(), seconds: 30);

        Assert.Equal(0, publishedBeforeRepeat); // no agent ran work no record knew of
        Assert.Equal(TaskState.Completed, result.State); // long before its 300 s timeout: the failed dispatch freed the slot
        Assert.Equal(1, result.Subtasks.Single().Attempts);
        Assert.Equal(1, published.Count);
    }

    [Fact]
    public async Task A_part_whose_start_failed_with_the_submit_is_started_when_the_task_is_next_read_with_no_repeat()
    {
        var failed = 0;
        var storage = new GrainStorageInterceptor(state =>
            state is SubtaskGrainState { Revision: 1 } && Interlocked.Exchange(ref failed, 1) == 0 ? throw new IOException("storage blip") : Task.CompletedTask);
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" }, storage.Install);
        var grain = cluster.ClusterClient.GetGrain<ITaskGrain>(Guid.NewGuid().ToString());
        await Assert.ThrowsAnyAsync<Exception>(() => grain.Submit(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] }));

        // No repeat comes; the task's grain is let go, and the next reader finds it stored.
        await cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var result = await cluster.ResultAsync(grain.GetPrimaryKeyString(), seconds: 30);

        Assert.Equal(TaskState.Completed, result.State);
        Assert.Equal(1, result.Subtasks.Single().Attempts);
    }

    /// <summary>The in-memory transport, counting the messages published to workers.</summary>
    private sealed class PublishCounter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Install(IServiceCollection services) =>
            services.AddSingleton<ITaskTransport>(sp => new Transport(sp.GetRequiredService<InMemoryNetwork>(), this));

        private sealed class Transport(ITaskTransport inner, PublishCounter counter) : ITaskTransport
        {
            public Task PublishAsync(TaskMessage message, string logLine, CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref counter._count);
                return inner.PublishAsync(message, logLine, cancellationToken);
            }

            public Task WithdrawAsync(string domain, string taskId, CancellationToken cancellationToken = default) => inner.WithdrawAsync(domain, taskId, cancellationToken);

            public Task<AgentResult?> GetResultAsync(string taskId, CancellationToken cancellationToken = default) => inner.GetResultAsync(taskId, cancellationToken);

            public Task AppendLogsAsync(string taskId, IReadOnlyList<string> lines, CancellationToken cancellationToken = default) => inner.AppendLogsAsync(taskId, lines, cancellationToken);

            public Task<IReadOnlyList<string>> ReadLogsAsync(string taskId, long fromIndex, CancellationToken cancellationToken = default) => inner.ReadLogsAsync(taskId, fromIndex, cancellationToken);
        }
    }

    [Fact]
    public async Task The_view_a_submit_returns_shows_its_parts_as_stored_not_a_dispatch_kept_in_memory()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"read go < '{dir.File("go")}'"),
        });
        await cluster.Dir.FifoAsync("go");

        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });

        // Where our workers serve, a dispatch is not written (the scheduler's slot holds it): the part reads as queued
        // (or in progress, should its start notice be stored before the reply).
        Assert.NotEqual(SubtaskState.Dispatched, task.Subtasks.Single().State);
        await File.WriteAllTextAsync(cluster.Dir.File("go"), "go\n");
        Assert.Equal(TaskState.Completed, (await cluster.ResultAsync(task.TaskId, seconds: 30)).State);
    }

    [Fact]
    public async Task Starting_a_stored_subtask_again_after_it_was_let_go_returns_it_as_stored()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Kind"] = "noop" });
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint", Domains = ["backend"] });
        var stored = (await cluster.ResultAsync(task.TaskId, seconds: 30)).Subtasks.Single();
        var grains = cluster.Silo.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var again = await grains.GetGrain<ISubtaskGrain>(stored.TaskId).Start(
            new SubtaskSpec { TaskId = stored.TaskId, ParentTaskId = task.TaskId, Domain = "backend", Description = "Build the API endpoint" });

        Assert.Equal(SubtaskState.Completed, again.State);
        Assert.Equal(stored.Revision, again.Revision);
        Assert.Equal(1, again.Attempts);
    }

    [Fact]
    public async Task Asking_for_a_task_id_that_does_not_exist_says_so()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        var error = await Assert.ThrowsAsync<UnknownTaskException>(() => cluster.Client.GetAsync("no-such-task"));

        Assert.Contains("No task with id 'no-such-task'", error.Message);
    }

    [Fact]
    public async Task Invalid_input_is_refused_and_stores_nothing()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        await Assert.ThrowsAsync<InvalidTaskRequestException>(() => cluster.Client.SubmitAsync(new TaskSubmission { Description = "api", ContextJson = "[]" }));

        Assert.Empty(await cluster.Client.ListTasksAsync());
    }

    [Fact]
    public async Task The_orchestrator_registers_as_the_main_agent_and_domains_register_as_they_start()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("agent.sh", WritesDomainFile) });
        await cluster.ResultAsync((await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" })).TaskId);

        var agents = await cluster.Client.ListAgentsAsync();

        Assert.Contains(agents, a => a is { AgentId: "main-orchestrator", Role: "main", Healthy: true });
        var domain = Assert.Single(agents, a => a.Role == "domain");
        Assert.Equal("backend", domain.DomainType);
        Assert.Matches("^backend-[0-9a-f]{8}$", domain.AgentId);
        var pools = await cluster.Client.ListDomainsAsync();
        Assert.Contains(pools.Single(p => p.DomainType == "backend").Domains, d => d.DomainId == domain.AgentId && d.Healthy);
    }
}
