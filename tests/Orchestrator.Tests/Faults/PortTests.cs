using Orchestrator.Hosting;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Faults;

public sealed class PortTests
{
    [Fact]
    public async Task A_silo_started_on_the_ports_of_a_running_one_stops_and_names_the_port()
    {
        await using var running = await SiloProcess.StartAsync(new Dictionary<string, string>());

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => SiloProcess.StartAsync(
            new Dictionary<string, string> { ["Web:Urls"] = $"http://127.0.0.1:{OrchestratorSiloHost.FreePort()}" }, restartOf: running));

        Assert.Contains($"Port {running.SiloPort} (Cluster:SiloPort) is already served", refused.Message);
    }
}
