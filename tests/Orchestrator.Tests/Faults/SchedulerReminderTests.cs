using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

/// <summary>A scheduler is woken by its reminder only while it has work; an idle one lets go.</summary>
public sealed class SchedulerReminderTests
{
    private static async Task<bool> HasReminderAsync(OrchestratorCluster cluster, string domain) =>
        (await cluster.Silo.GetRequiredService<IReminderTable>().ReadRows(GrainId.Create("domainscheduler", domain))).Reminders.Count > 0;

    [Fact]
    public async Task A_scheduler_with_work_keeps_its_reminder_and_an_idle_one_drops_it_at_the_next_tick()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(dir => new() { ["Domains:Agent:Command"] = dir.Script("slow.sh", $"for i in $(seq 1 600); do [ -f '{dir.File("release")}' ] && exit 0; sleep 0.1; done") });
        var task = await cluster.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        await cluster.WaitUntilAsync(task.TaskId, t => t.Subtasks.Single().State == SubtaskState.InProgress);
        var scheduler = cluster.Silo.GetRequiredService<IGrainFactory>().GetGrain<IDomainSchedulerGrain>("backend").AsReference<IRemindable>();

        await scheduler.ReceiveReminder("wake", default);
        Assert.True(await HasReminderAsync(cluster, "backend"));

        File.WriteAllText(cluster.Dir.File("release"), "");
        await cluster.ResultAsync(task.TaskId);
        await scheduler.ReceiveReminder("wake", default);
        Assert.False(await HasReminderAsync(cluster, "backend"));
    }
}
