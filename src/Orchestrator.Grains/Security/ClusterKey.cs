using System.Security.Cryptography;
using System.Text;

namespace Orchestrator.Grains.Security;

/// <summary>
/// The secret the silos of one cluster share and no client or worker holds. It marks calls between silos as
/// internal (see the control-plane call filter) and signs the lease of every dispatched attempt.
/// </summary>
public interface IClusterKey
{
    ValueTask<byte[]> GetAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// An attempt's lease: an HMAC of the subtask id and attempt number under the cluster key. It travels in the wire
/// message's <c>metadata.lease</c>; our worker answers with a proof under it (<see cref="Orchestrator.Core.Protocol.LeaseProof"/>),
/// so only the holder of that attempt's message can complete it. Derived, not stored: it survives a silo restart and
/// needs no write on the dispatch path.
/// </summary>
public static class AttemptLease
{
    public static string Compute(byte[] key, string subtaskId, int attempt) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"lease\n{subtaskId}\n{attempt}")), 0, 16);

}
