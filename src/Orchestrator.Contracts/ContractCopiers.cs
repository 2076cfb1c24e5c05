using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Serialization.Cloning;

namespace Orchestrator.Contracts;

/// <summary>
/// The copiers Orleans generated for these contracts, each registered once. A generated grain reference asks the
/// services for the copier of its methods' arguments when it is made, and builds one by reflection
/// (<c>ActivatorUtilities</c>) when none is registered: every reference made — several per task — built its copiers
/// that way (2 % of the process's samples in a profile of <c>bench</c>). Copiers hold no state of their own.
/// </summary>
public static class ContractCopiers
{
    public static IServiceCollection AddContractCopiers(this IServiceCollection services)
    {
        foreach (var copier in Generated)
        {
            services.TryAddSingleton(copier);
        }

        return services;
    }

    /// <summary>The concrete copier types the Orleans code generator made for this assembly.</summary>
    public static IReadOnlyList<Type> Generated { get; } = typeof(ContractCopiers).Assembly.GetTypes()
        .Where(type => type is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
            && type.Namespace?.StartsWith("OrleansCodeGen", StringComparison.Ordinal) == true
            && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDeepCopier<>)))
        .ToArray();
}
