using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Validation;

namespace Orchestrator.Tests.Support;

/// <summary>The shipped routing.json, optionally with configuration on top, as every host loads it.</summary>
public static class Routing
{
    public static IConfiguration Configuration(IReadOnlyDictionary<string, string?>? overrides = null) =>
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "routing.json"))
            .AddInMemoryCollection(overrides ?? new Dictionary<string, string?>())
            .Build();

    public static TaskPlanner Planner(IReadOnlyDictionary<string, string?>? overrides = null) => Services(overrides).GetRequiredService<TaskPlanner>();

    public static TaskRequestValidator Validator(IReadOnlyDictionary<string, string?>? overrides = null) => Services(overrides).GetRequiredService<TaskRequestValidator>();

    private static ServiceProvider Services(IReadOnlyDictionary<string, string?>? overrides) =>
        new ServiceCollection().AddTaskRouting(Configuration(overrides)).BuildServiceProvider();
}
