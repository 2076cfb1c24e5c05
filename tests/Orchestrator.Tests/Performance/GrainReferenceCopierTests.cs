using Microsoft.Extensions.Hosting;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Performance;

/// <summary>
/// A grain reference takes its arguments' copiers from the services when it is made, and one that is not registered is
/// built by reflection at every reference (several per task). The silo and the client register every contract copier.
/// </summary>
public sealed class GrainReferenceCopierTests
{
    [Fact]
    public async Task A_silo_has_every_contract_copier_registered_so_its_grain_references_build_none_by_reflection()
    {
        await using var cluster = await OrchestratorCluster.StartAsync(_ => new());

        Assert.NotEmpty(ContractCopiers.Generated);
        Assert.All(ContractCopiers.Generated, copier => Assert.NotNull(cluster.Silo.GetService(copier)));
    }

    [Fact]
    public void A_client_has_every_contract_copier_registered_so_its_grain_references_build_none_by_reflection()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddOrchestratorClient();
        using var host = builder.Build();

        Assert.All(ContractCopiers.Generated, copier => Assert.NotNull(host.Services.GetService(copier)));
    }
}
