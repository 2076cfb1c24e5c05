using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Connections.Security;

namespace Orchestrator.Client;

/// <summary>
/// The loaded certificates of <see cref="ClusterTlsOptions"/> and the TLS settings silos and clients use with them.
/// A peer is trusted when its chain ends at <see cref="ClusterTlsOptions.CertificateAuthority"/> — never the system
/// store, so no public CA can issue a way in — and its certificate carries the extended key usage of its role.
/// Host names are not checked: silos and clients reach each other by the IP addresses membership advertises, and
/// the private CA, not a name, is what says a peer belongs to the cluster.
/// </summary>
public sealed partial class ClusterTls
{
    /// <summary>TLS client authentication: every silo and every client has it.</summary>
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>TLS server authentication: only silos have it, so a client's certificate cannot pass for a silo's.</summary>
    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private readonly X509Certificate2Collection _authorities;

    private ClusterTls(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        _authorities = authorities;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The certificates of <c>Cluster:Tls</c>, or null when TLS is off. Throws <see cref="ArgumentException"/> naming the setting and file at fault.</summary>
    public static ClusterTls? Load(ClusterTlsOptions options)
    {
        if (!options.Enabled)
        {
            return options.CertificateAuthority is { Length: > 0 } || options.Key is { Length: > 0 }
                ? throw new ArgumentException($"{ClusterTlsOptions.SectionName}:Certificate is not set, but other {ClusterTlsOptions.SectionName} settings are; give this process's certificate (docker/make-dev-certs.sh makes one).")
                : null;
        }

        var certificate = LoadCertificate(options);
        var authorityPath = options.CertificateAuthority is { Length: > 0 } ca
            ? ExistingFile(ca, "CertificateAuthority")
            : throw new ArgumentException($"{ClusterTlsOptions.SectionName}:CertificateAuthority is not set; give the PEM of the CA that signs the cluster's certificates (ca.pem from docker/make-dev-certs.sh).");
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(authorityPath);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"{ClusterTlsOptions.SectionName}:CertificateAuthority '{authorityPath}' is not a PEM certificate: {e.Message}", e);
        }

        return authorities.Count > 0
            ? new ClusterTls(certificate, authorities)
            : throw new ArgumentException($"{ClusterTlsOptions.SectionName}:CertificateAuthority '{authorityPath}' holds no PEM certificate.");
    }

    /// <summary>For accepted connections: the peer must present a certificate from the cluster's CA with every one of <paramref name="peerUsages"/>.</summary>
    public TlsOptions ForServer(string connection, ILogger logger, params Oid[] peerUsages) => new()
    {
        LocalCertificate = Certificate,
        RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateValidation = (peer, chain, _) => IsTrusted(peer, chain, connection, logger, peerUsages),
    };

    /// <summary>For connections this process opens (to a gateway, or a silo to another silo): the other end must be a silo of the cluster.</summary>
    public TlsOptions ForClient(string connection, ILogger logger) => new()
    {
        LocalCertificate = Certificate,
        // Fail loud on a certificate without client authentication instead of connecting without one.
        RemoteCertificateMode = RemoteCertificateMode.RequireCertificate,
        ClientCertificateMode = RemoteCertificateMode.RequireCertificate,
        RemoteCertificateValidation = (peer, chain, _) => IsTrusted(peer, chain, connection, logger, [ServerAuthentication]),
    };

    /// <summary>The logger of a connection pipeline's services, for refused peers.</summary>
    public static ILogger Logger(Microsoft.AspNetCore.Connections.IConnectionBuilder connection) =>
        connection.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger<ClusterTls>();

    private bool IsTrusted(X509Certificate2 peer, X509Chain? presented, string connection, ILogger logger, Oid[] usages)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        // A private cluster CA publishes no revocation list: to withdraw a certificate, replace the CA and reissue.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var usage in usages)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(usage);
        }

        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        if (chain.Build(peer))
        {
            return true;
        }

        LogRefusedPeer(logger, connection, peer.Subject,
            string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct()),
            string.Join(", ", usages.Select(u => u.FriendlyName)));
        return false;
    }

    private static X509Certificate2 LoadCertificate(ClusterTlsOptions options)
    {
        var path = ExistingFile(options.Certificate!, "Certificate");
        X509Certificate2 certificate;
        if (Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12")
        {
            try
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.Password);
            }
            catch (CryptographicException e)
            {
                throw new ArgumentException($"{ClusterTlsOptions.SectionName}:Certificate '{path}' does not open with {ClusterTlsOptions.SectionName}:Password (wrong password, or not a PKCS#12 file): {e.Message}", e);
            }
        }
        else
        {
            var key = options.Key is { Length: > 0 } k
                ? ExistingFile(k, "Key")
                : throw new ArgumentException($"{ClusterTlsOptions.SectionName}:Key is not set; a PEM certificate ('{path}') needs its PEM private key.");
            try
            {
                certificate = X509Certificate2.CreateFromPemFile(path, key);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw new ArgumentException($"{ClusterTlsOptions.SectionName}:Key '{key}' is not the private key of {ClusterTlsOptions.SectionName}:Certificate '{path}' (or one of them is not PEM): {e.Message}", e);
            }
        }

        return certificate.HasPrivateKey
            ? certificate
            : throw new ArgumentException($"{ClusterTlsOptions.SectionName}:Certificate '{path}' holds no private key; give a PKCS#12 file with its key, or a PEM certificate and {ClusterTlsOptions.SectionName}:Key.");
    }

    private static string ExistingFile(string path, string setting) =>
        File.Exists(path)
            ? Path.GetFullPath(path)
            : throw new ArgumentException($"{ClusterTlsOptions.SectionName}:{setting} '{path}' does not exist.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a TLS peer on the {Connection} connection: certificate '{Subject}' is not from the cluster's CA with {Usages} ({Reason})")]
    private static partial void LogRefusedPeer(ILogger logger, string connection, string subject, string reason, string usages);
}
