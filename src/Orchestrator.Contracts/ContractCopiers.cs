using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Serialization.Cloning;

namespace Orchestrator.Contracts;

/// <summary>
/// Orleans' generated copiers for these contracts, registered as singletons: a grain reference asks the services for
/// its arguments' copiers when it is made, and one that is not registered is built by reflection for every reference.
/// Generated copiers hold no state of their own, so one serves every thread. All are registered, not only those
/// today's grain interfaces take, so that an argument added later is covered too.
/// </summary>
public static class ContractCopiers
{
    private static readonly Type[] Generated = typeof(ContractCopiers).Assembly.GetTypes()
        .Where(type => type is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
            && type.Namespace?.StartsWith("OrleansCodeGen", StringComparison.Ordinal) == true
            && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDeepCopier<>)))
        .ToArray();

    public static IServiceCollection AddContractCopiers(this IServiceCollection services)
    {
        foreach (var copier in Generated)
        {
            services.TryAddSingleton(copier);
        }

        return services;
    }
}
