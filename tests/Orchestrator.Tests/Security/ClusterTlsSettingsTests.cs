using System.Security.Cryptography.X509Certificates;
using Orchestrator.Client;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Security;

/// <summary>A mistake in <c>Cluster:Tls</c> stops start with the setting and the file it is about.</summary>
public sealed class ClusterTlsSettingsTests
{
    [Fact]
    public async Task A_key_that_is_not_the_certificates_names_both_files()
    {
        using var certificates = await DevCertificates.MakeAsync();
        var settings = certificates.ClusterTls("silo");
        var mismatch = new ClusterTlsOptions
        {
            Certificate = settings["Cluster:Tls:Certificate"],
            Key = Path.Combine(certificates.Directory, "client.key"),
            CertificateAuthority = certificates.Authority,
        };

        var error = Assert.Throws<ArgumentException>(() => ClusterTls.Load(mismatch));

        Assert.StartsWith($"Cluster:Tls:Key '{mismatch.Key}' is not the private key of Cluster:Tls:Certificate '{mismatch.Certificate}'", error.Message);
    }

    [Fact]
    public async Task A_pkcs12_certificate_opens_with_its_password_and_a_wrong_one_is_named()
    {
        using var certificates = await DevCertificates.MakeAsync();
        var pem = certificates.ClusterTls("silo");
        var pfx = Path.Combine(certificates.Directory, "silo.pfx");
        using (var certificate = X509Certificate2.CreateFromPemFile(pem["Cluster:Tls:Certificate"], pem["Cluster:Tls:Key"]))
        {
            File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "right"));
        }

        ClusterTlsOptions Options(string password) => new() { Certificate = pfx, Password = password, CertificateAuthority = certificates.Authority };
        var loaded = ClusterTls.Load(Options("right"));
        var error = Assert.Throws<ArgumentException>(() => ClusterTls.Load(Options("wrong")));

        Assert.True(loaded!.Certificate.HasPrivateKey);
        Assert.StartsWith($"Cluster:Tls:Certificate '{pfx}' does not open with Cluster:Tls:Password", error.Message);
    }

    [Fact]
    public void A_missing_certificate_file_is_named()
    {
        var error = Assert.Throws<ArgumentException>(() => ClusterTls.Load(new ClusterTlsOptions
        {
            Certificate = "/nonexistent/silo.pem",
            Key = "/nonexistent/silo.key",
        }));

        Assert.Equal("Cluster:Tls:Certificate '/nonexistent/silo.pem' does not exist.", error.Message);
    }
}
