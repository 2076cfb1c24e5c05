using System.Security.Cryptography;
using System.Text;

namespace Orchestrator.Core.Webhooks;

/// <summary>
/// The headers of a webhook and its signature, as GitHub signs (<c>sha256=</c> and the lower-case hex HMAC-SHA256),
/// over the timestamp, a dot and the exact body bytes, so that a receiver can refuse an old request replayed to it.
/// </summary>
public static class WebhookSignature
{
    public const string SignatureHeader = "X-Orchestrator-Signature-256";
    public const string DeliveryHeader = "X-Orchestrator-Delivery";
    public const string EventHeader = "X-Orchestrator-Event";
    public const string TimestampHeader = "X-Orchestrator-Timestamp";

    /// <summary>The one event sent: a task reached a final state (its status is in the body).</summary>
    public const string TaskFinished = "task.finished";

    /// <summary><c>sha256=</c> + hex(HMAC-SHA256(secret, "{timestamp}." + body)), timestamp in Unix seconds.</summary>
    public static string Sign(byte[] secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.ASCII.GetBytes($"{timestamp}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(secret, signed));
    }
}
