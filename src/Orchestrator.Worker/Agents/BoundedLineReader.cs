using System.Text;

namespace Orchestrator.Worker.Agents;

/// <summary>
/// Splits an agent's output into lines without ever holding more than <c>maxLineBytes</c> of one line: a longer line
/// is cut there, marked, and the rest of it up to the next newline is skipped.
/// </summary>
public static class BoundedLineReader
{
    public static string TruncationMarker(int maxLineBytes) => $" [line truncated at {maxLineBytes} bytes]";

    public static async Task ReadAsync(Stream stream, int maxLineBytes, Action<string> onLine, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var line = new MemoryStream();
        var skipping = false;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                var start = 0;
                while (start < read)
                {
                    var newline = Array.IndexOf(buffer, (byte)'\n', start, read - start);
                    var end = newline < 0 ? read : newline;
                    if (!skipping)
                    {
                        var room = maxLineBytes - (int)line.Length;
                        line.Write(buffer, start, Math.Min(room, end - start));
                        if (end - start > room)
                        {
                            onLine(Decode(line) + TruncationMarker(maxLineBytes));
                            line.SetLength(0);
                            skipping = true;
                        }
                    }

                    if (newline < 0)
                    {
                        break;
                    }

                    if (!skipping)
                    {
                        onLine(Decode(line));
                    }

                    line.SetLength(0);
                    skipping = false;
                    start = newline + 1;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The process was killed; what was read is kept.
        }

        if (line.Length > 0 && !skipping)
        {
            onLine(Decode(line));
        }
    }

    private static string Decode(MemoryStream line) =>
        Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).TrimEnd('\r');
}
