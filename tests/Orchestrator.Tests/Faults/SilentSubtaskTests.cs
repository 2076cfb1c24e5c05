using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Contracts;
using Orchestrator.Grains;
using Orchestrator.Grains.Tasks;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>A running task read again while one of its parts cannot answer (its activation going, its silo stopping).</summary>
public sealed class SilentSubtaskTests
{
    [Fact]
    public async Task A_running_task_read_while_its_part_cannot_answer_shows_what_it_stored_and_still_completes()
    {
        var part = new HeldSubtaskReads();
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new()
        {
            ["Domains:Agent:Command"] = dir.Script("agent.sh", $"while [ ! -f '{dir.File("release")}' ]; do sleep 0.05; done"),
        }, part.Install);
        var task = await StartedAsync(cluster);
        await ReadAgainAtNextCallAsync(cluster);
        part.Hold();

        var read = await ReadPastTheWaitAsync(cluster, part, task.TaskId);
        part.Release();
        File.WriteAllText(cluster.Dir.File("release"), "");
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.False(read.State.IsFinal());
        Assert.Equal(TaskState.Completed, result.State);
    }

    [Fact]
    public async Task A_part_whose_report_was_lost_and_that_could_not_answer_the_read_is_asked_again_until_it_does()
    {
        var part = new HeldSubtaskReads();
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new() { ["Domains:Agent:Command"] = "sleep 300" }, part.Install);
        var task = await StartedAsync(cluster);
        // What a silo that died after the part stored its end, before the task heard of it, leaves: the part completed
        // in storage, its report lost, its agent still running (it reports nothing more).
        await cluster.ChangeStoredSubtaskAsync(task.Subtasks.Single().TaskId, stored =>
        {
            stored.State = SubtaskState.Completed;
            stored.CompletedAt = DateTimeOffset.UtcNow;
            stored.Revision++;
        });
        await ReadAgainAtNextCallAsync(cluster);
        part.Hold();

        var read = await ReadPastTheWaitAsync(cluster, part, task.TaskId);
        part.Fail(); // the late answer fails too: only asking again can hear it
        var result = await cluster.ResultAsync(task.TaskId, seconds: 30);

        Assert.False(read.State.IsFinal());
        Assert.Equal(TaskState.Completed, result.State);
    }

    private static async Task<TaskView> StartedAsync(OrchestratorCluster cluster)
    {
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Build the API endpoint" });
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        return task;
    }

    /// <summary>
    /// Reads the task once its part's read is held, and moves the task clock past the read's wait for the part. Without
    /// that bound the read waits until Orleans' response timeout (30 s) and fails; the 20 s here only keeps such a
    /// failure from hanging the test.
    /// </summary>
    private static async Task<TaskView> ReadPastTheWaitAsync(OrchestratorCluster cluster, HeldSubtaskReads part, string taskId)
    {
        var read = cluster.Client.GetAsync(taskId);
        await part.Held.WaitAsync(TimeSpan.FromSeconds(20));
        part.Clock.Advance(TimeSpan.FromSeconds(5));
        return await read.WaitAsync(TimeSpan.FromSeconds(20));
    }

    /// <summary>The task and its part are let go: both come back from storage at their next call.</summary>
    private static Task ReadAgainAtNextCallAsync(OrchestratorCluster cluster) =>
        cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

    /// <summary>Holds the subtasks' state reads while asked to, then lets them go on or fail; the tasks run on its clock.</summary>
    private sealed class HeldSubtaskReads
    {
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _holding;

        public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

        /// <summary>Done once a read is held.</summary>
        public Task Held => _held.Task;

        public void Install(IServiceCollection services)
        {
            new GrainStorageInterceptor(_ => Task.CompletedTask, name =>
            {
                if (name != SubtaskGrain.StateName || Volatile.Read(ref _holding) == 0)
                {
                    return Task.CompletedTask;
                }

                _held.TrySetResult();
                return _released.Task;
            }).Install(services);
            services.AddKeyedSingleton<TimeProvider>(TaskClock.Key, Clock);
        }

        public void Hold() => Volatile.Write(ref _holding, 1);

        public void Release()
        {
            Volatile.Write(ref _holding, 0);
            _released.SetResult();
        }

        public void Fail()
        {
            Volatile.Write(ref _holding, 0);
            _released.SetException(new IOException("simulated: the store did not answer"));
        }
    }
}
