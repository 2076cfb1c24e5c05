using System.Globalization;

namespace Orchestrator.Core.Protocol;

/// <summary>Time stamps and log lines as the reference network writes them.</summary>
public static class WireFormat
{
    /// <summary>ISO-8601 UTC with an explicit offset, as Python's <c>datetime.isoformat()</c> writes and parses it.</summary>
    public static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    public static DateTimeOffset? ParseTimestamp(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;

    /// <summary>A log line: <c>[&lt;ISO-8601 UTC&gt;] &lt;text&gt;</c>.</summary>
    public static string LogLine(DateTimeOffset time, string text) => $"[{Timestamp(time)}] {text}";
}

/// <summary>Data on the wire that does not follow the protocol; the message says which field and why.</summary>
public sealed class WireFormatException(string message) : Exception(message);
