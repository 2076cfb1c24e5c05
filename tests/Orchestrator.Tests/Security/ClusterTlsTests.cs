using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Security;

/// <summary>Mutual TLS on the Orleans gateway: a real silo process with <c>Cluster:Tls</c>, clients with and without certificates.</summary>
public sealed class ClusterTlsTests(TlsSilo cluster) : IClassFixture<TlsSilo>
{
    [Fact]
    public async Task A_client_without_a_certificate_cannot_connect()
    {
        var refused = await Assert.ThrowsAsync<OrchestratorUnreachableException>(() => cluster.ConnectAsync());

        Assert.Contains("Cluster__Tls__Certificate", refused.Message);
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_another_ca_cannot_connect()
    {
        // The client trusts the cluster's CA, so it is the silo, not the client, that ends the handshake.
        var foreignCertificate = new Dictionary<string, string>(cluster.Foreign.ClusterTls("client"))
        {
            ["Cluster:Tls:CertificateAuthority"] = cluster.Certificates.Authority,
        };

        await Assert.ThrowsAsync<OrchestratorUnreachableException>(() => cluster.ConnectAsync(foreignCertificate));

        await Eventually.TrueAsync(() => cluster.Silo.Output.Contains("Refused a TLS peer on the gateway connection"),
            "the silo did not log the refused certificate");
    }

    [Fact]
    public async Task A_client_that_trusts_another_ca_does_not_talk_to_the_silo()
    {
        var mixed = new Dictionary<string, string>(cluster.Certificates.ClusterTls("client"))
        {
            ["Cluster:Tls:CertificateAuthority"] = cluster.Foreign.Authority,
        };

        await Assert.ThrowsAsync<OrchestratorUnreachableException>(() => cluster.ConnectAsync(mixed));
    }

    [Fact]
    public async Task A_client_certificate_is_refused_on_the_silo_to_silo_port()
    {
        var settings = new Dictionary<string, string>(cluster.Certificates.ClusterTls("client"))
        {
            ["Cluster:Gateway"] = $"127.0.0.1:{cluster.Silo.SiloPort}",
        };

        await Assert.ThrowsAsync<OrchestratorUnreachableException>(() => cluster.ConnectAsync(settings));

        await Eventually.TrueAsync(() => cluster.Silo.Output.Contains("Refused a TLS peer on the silo connection: certificate 'CN=orchestrator client"),
            "the silo port did not refuse the client certificate for lacking server authentication");
    }

    [Fact]
    public async Task A_client_with_a_valid_certificate_submits_a_task_that_completes()
    {
        await using var connection = await cluster.ConnectAsync(cluster.Certificates.ClusterTls("client"));

        var task = await connection.Client.SubmitAsync(new TaskSubmission { Description = "Add a login API endpoint" });
        var result = await connection.Client.WaitForResultAsync(task.TaskId).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(TaskState.Completed, result.State);
    }

    [Fact]
    public async Task A_client_with_a_valid_certificate_cannot_call_an_internal_grain_method()
    {
        using var client = await cluster.StartClusterClientAsync(cluster.Certificates.ClusterTls("client"));
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var subtaskId = Guid.NewGuid().ToString();

        var refused = await Assert.ThrowsAsync<CallRefusedException>(() => grains.GetGrain<ISubtaskGrain>(subtaskId)
            .OnResult(new AgentResult { TaskId = subtaskId, Succeeded = true }));

        Assert.Contains("internal to the orchestrator's silos", refused.Message);
    }
}
