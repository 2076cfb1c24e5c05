using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orchestrator.Core.Telemetry;
using Orchestrator.Core.Transport;
using OpenTelemetry.Trace;
using Orchestrator.Redis;
using Orchestrator.Worker;
using Orchestrator.Worker.Agents;
using Orchestrator.Worker.Isolation;
using Orchestrator.WorkerHost;
using StackExchange.Redis;

// orchestrator-worker          runs a domain worker (settings from the environment; see README)
// orchestrator-worker health   exit 0 only when Redis answers and this agent is registered, not stopping, heart-beating
const int BadSettings = 2;
const int Unavailable = 3;

WorkerSettings settings;
try
{
    settings = WorkerSettings.FromEnvironment(Environment.GetEnvironmentVariables());
}
catch (WorkerSettingsException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return BadSettings;
}

if (args is ["health"])
{
    if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("AGENT_ID")))
    {
        Console.Error.WriteLine("error: AGENT_ID is not set; the health check needs the id of the worker it checks.");
        return BadSettings;
    }

    return await HealthCheck.RunAsync(settings);
}

if (args.Length > 0)
{
    Console.Error.WriteLine($"error: unknown argument '{args[0]}'; run without arguments, or with 'health'.");
    return BadSettings;
}

// Before anything connects: the worker's environment and memory hold the Redis password; its agents must not read them.
var nonDumpable = ProcessHardening.MakeNonDumpable();

IConnectionMultiplexer redis;
try
{
    redis = await RedisConnection.ConnectAsync(settings.RedisUrl, settings.RedisWait);
}
catch (RedisConnectionException e)
{
    Console.Error.WriteLine($"error: REDIS_URL {RedisConnection.Redacted(settings.RedisUrl)}: {e.Message}");
    return Unavailable;
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information);
builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
// SIGTERM: the worker's own grace period, then a margin for reporting and deregistering.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownGrace + TimeSpan.FromSeconds(10));
builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(redis);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<IWorkerTransport, RedisWorkerTransport>();
builder.Services.AddSingleton<IAgentDirectory>(sp => new RedisAgentDirectory(redis, TimeProvider.System, settings.HeartbeatTtl));
builder.Services.AddSingleton<IAgentRunner>(new ProcessAgentRunner(new AgentCommandOptions
{
    Command = settings.AgentCommand,
    PassEnvironment = settings.PassEnvironment.ToList(),
    MaxLineBytes = settings.MaxLineBytes,
    StallTimeout = settings.StallTimeout,
    Usage = settings.UsageFormat,
    Prices = settings.Prices,
}));
builder.Services.AddSingleton<IWorkspaceIsolation>(sp => new WorktreeIsolation(
    new IsolationOptions
    {
        Workspace = settings.Workspace,
        DomainType = settings.DomainType,
        Mode = settings.MergeMode,
        KeepMergedBranches = settings.KeepMergedBranches,
        TemplateDirectory = settings.AgentConfig,
        IgnorePatterns = settings.IgnorePatterns,
    },
    sp.GetRequiredService<ILogger<WorktreeIsolation>>()));
builder.Services.AddSingleton(sp => new DomainWorker(
    new WorkerOptions
    {
        AgentId = settings.AgentId,
        DomainType = settings.DomainType,
        Role = settings.Role,
        ContainerId = settings.ContainerId,
        Concurrency = settings.Concurrency,
        HeartbeatInterval = settings.HeartbeatInterval,
        HeartbeatTtl = settings.HeartbeatTtl,
        ShutdownGrace = settings.ShutdownGrace,
        MaxLogBytes = settings.MaxLogBytes,
    },
    sp.GetRequiredService<IWorkerTransport>(),
    sp.GetRequiredService<IAgentDirectory>(),
    sp.GetRequiredService<IAgentRunner>(),
    sp.GetRequiredService<IWorkspaceIsolation>(),
    TimeProvider.System,
    sp.GetRequiredService<ILogger<DomainWorker>>()));
builder.Services.AddHostedService<WorkerService>();
// Traces of task runs go to an OTLP collector when the standard OpenTelemetry variable names one.
if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
{
    builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(OrchestratorTelemetry.SourceName).AddOtlpExporter());
}


using var host = builder.Build();
host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Orchestrator.WorkerHost").Log(
    nonDumpable ? LogLevel.Information : LogLevel.Warning,
    nonDumpable
        ? "This worker is non-dumpable: its agents cannot read its environment or memory (root with CAP_SYS_PTRACE still can)"
        : "This platform cannot make the worker non-dumpable: agents running as the same user can read its environment in /proc");
await host.RunAsync();
await redis.DisposeAsync();
return 0;
