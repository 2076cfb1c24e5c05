using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orchestrator.Core.Validation;

namespace Orchestrator.Core.Routing;

public static class RoutingServiceCollectionExtensions
{
    /// <summary>The routing tables (the <c>Routing</c> section) and the planner and validator built on them.</summary>
    public static IServiceCollection AddTaskRouting(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RoutingOptions>().Bind(configuration.GetSection(RoutingOptions.SectionName));
        services.TryAddSingleton<TaskPlanner>();
        services.TryAddSingleton<TaskRequestValidator>();
        return services;
    }
}
