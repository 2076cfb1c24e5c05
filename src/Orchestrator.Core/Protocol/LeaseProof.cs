using System.Security.Cryptography;
using System.Text;

namespace Orchestrator.Core.Protocol;

/// <summary>
/// What our worker sends back instead of an attempt's lease: a MAC under the lease over what it reports. The lease
/// itself travels only in the dispatched message, which only the domain's own workers can read; result hashes and
/// start notices are readable by every worker, so they carry proofs that cannot be replayed onto other content.
/// </summary>
public static class LeaseProof
{
    /// <summary>Over the result as it is written to the wire: status, output (<c>{}</c> when none) and error (empty when none).</summary>
    public static string ForResult(string lease, string taskId, bool succeeded, string? outputJson, string? error) =>
        Mac(lease, $"result\n{taskId}\n{(succeeded ? "completed" : "failed")}\n{outputJson ?? "{}"}\n{error ?? ""}");

    /// <summary>Over the attempt's diff as written to the wire (its own proof: a diff dropped for its size leaves the result's intact).</summary>
    public static string ForDiff(string lease, string taskId, string diffJson) =>
        Mac(lease, $"diff\n{taskId}\n{diffJson}");

    /// <summary>Over the agent and, when it names one, its incarnation: a copied notice cannot claim another start of the agent.</summary>
    public static string ForStart(string lease, string taskId, string agentId, string? incarnation) =>
        Mac(lease, incarnation is null ? $"started\n{taskId}\n{agentId}" : $"started\n{taskId}\n{agentId}\n{incarnation}");

    /// <summary>Compares in constant time.</summary>
    public static bool Matches(string expected, string? given) =>
        given is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(given));

    private static string Mac(string lease, string text) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(lease), Encoding.UTF8.GetBytes(text)), 0, 16);
}
