namespace Orchestrator.Client;

/// <summary>
/// The certificates of one silo or client, bound from <c>Cluster:Tls</c>. Every silo and client of a cluster has its
/// own certificate, all signed by one certificate authority that only this cluster uses.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string SectionName = $"{ClusterConnectionOptions.SectionName}:Tls";

    /// <summary>This process's certificate: a PEM file (with <see cref="Key"/>) or a PKCS#12 file (<c>.pfx</c>/<c>.p12</c>).</summary>
    public string? Certificate { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="Certificate"/>.</summary>
    public string? Key { get; set; }

    /// <summary>The password of a PKCS#12 <see cref="Certificate"/>.</summary>
    public string? Password { get; set; }

    /// <summary>PEM of the authority (or authorities, while one is replaced) that signs every silo's and client's certificate.</summary>
    public string? CertificateAuthority { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(Certificate);
}
