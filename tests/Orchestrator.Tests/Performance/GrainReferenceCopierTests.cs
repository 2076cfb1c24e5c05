using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;
using Orleans.GrainReferences;
using Orleans.Metadata;
using Orleans.Serialization.Cloning;

namespace Orchestrator.Tests.Performance;

/// <summary>
/// A grain reference takes its arguments' copiers from the services when it is made; one that is not registered is
/// built by reflection for every reference (several per task). References share the registered ones instead.
/// </summary>
public sealed class GrainReferenceCopierTests
{
    [Fact]
    public async Task Grain_references_made_in_a_silo_share_their_argument_copiers()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        AssertSharedCopiers(cluster.Silo);
    }

    [Fact]
    public void Grain_references_made_by_a_client_share_their_argument_copiers()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddOrchestratorClient();
        using var host = builder.Build();

        AssertSharedCopiers(host.Services);
    }

    /// <summary>Made as Orleans makes every reference, without asking a cluster which grain implements the interface.</summary>
    private static void AssertSharedCopiers(IServiceProvider services)
    {
        var references = services.GetRequiredService<GrainReferenceActivator>();
        var subtaskInterface = services.GetRequiredService<GrainInterfaceTypeResolver>().GetGrainInterfaceType(typeof(ISubtaskGrain));
        var first = CopiersOf(references.CreateReference(GrainId.Create("subtask", "first"), subtaskInterface));
        var second = CopiersOf(references.CreateReference(GrainId.Create("subtask", "second"), subtaskInterface));

        Assert.NotEmpty(first);
        Assert.Equal(first.Length, second.Length);
        Assert.All(first.Zip(second), pair => Assert.Same(pair.First, pair.Second));
    }

    /// <summary>The copiers a generated reference holds, in its fields' order.</summary>
    private static object[] CopiersOf(object reference) =>
        reference.GetType().GetFields(BindingFlags.Instance | BindingFlags.NonPublic)
            .Where(field => field.FieldType.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDeepCopier<>)))
            .Select(field => field.GetValue(reference)!)
            .ToArray();
}
