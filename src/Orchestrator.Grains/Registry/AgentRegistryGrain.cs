using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Transport;

namespace Orchestrator.Grains.Registry;

/// <summary>
/// The agent registry: registration, heartbeats and listing over the registry store, and this orchestrator's own
/// registration as the main agent, kept fresh by a timer. The reminder brings the grain — and so the main
/// agent's heartbeat — back on another silo after a restart.
/// </summary>
public sealed partial class AgentRegistryGrain(
    IAgentDirectory directory,
    IOptions<OrchestratorOptions> options,
    ILogger<AgentRegistryGrain> logger) : Grain, IAgentRegistryGrain, IRemindable
{
    private const string HeartbeatReminder = "main-heartbeat";

    private string MainAgentId => options.Value.MainAgentId;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        await RegisterMainAsync();
        // The reference's 10 s, or faster when the TTL is shorter: three beats a TTL keep the main agent healthy.
        var interval = TimeSpan.FromTicks(Math.Min(Heartbeats.Interval.Ticks, options.Value.HeartbeatTtl.Ticks / 3));
        this.RegisterGrainTimer(HeartbeatMainAsync, new GrainTimerCreationOptions(interval, interval));
    }

    public async Task Start() => await this.RegisterOrUpdateReminder(HeartbeatReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

    public Task ReceiveReminder(string reminderName, TickStatus status) => HeartbeatMainAsync(CancellationToken.None);

    public Task Register(AgentInfo agent)
    {
        if (string.IsNullOrWhiteSpace(agent.AgentId))
        {
            throw new ArgumentException("An agent needs an id.");
        }

        if (!AgentRoles.IsKnown(agent.Role))
        {
            throw new ArgumentException($"Unknown role '{agent.Role}'; use main, domain or worker.");
        }

        return directory.RegisterAsync(agent);
    }

    public async Task Heartbeat(string agentId)
    {
        if (!await directory.HeartbeatAsync(agentId))
        {
            throw new ArgumentException($"Agent '{agentId}' is not registered; register it first.");
        }
    }

    public Task Deregister(string agentId) => directory.DeregisterAsync(agentId);

    public Task<IReadOnlyList<AgentInfo>> List() => directory.ListAsync();

    private Task RegisterMainAsync()
    {
        LogMainRegistered(MainAgentId);
        return directory.RegisterAsync(new AgentInfo { AgentId = MainAgentId, Role = AgentRoles.Main, Status = "active" });
    }

    private async Task HeartbeatMainAsync(CancellationToken cancellationToken)
    {
        if (!await directory.HeartbeatAsync(MainAgentId, cancellationToken))
        {
            await RegisterMainAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Registered {AgentId} as the main agent")]
    private partial void LogMainRegistered(string agentId);
}
