using System.CommandLine;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator diff &lt;id&gt; [--domain d] [--json]</c>: the change each domain's agent made, as the task view shows it.</summary>
internal static class DiffCommand
{
    public static Command Create()
    {
        var id = CommonOptions.TaskId();
        var domain = new Option<string?>("--domain", "-d") { Description = "Only this domain's change" };
        var json = CommonOptions.Json();
        var command = new Command("diff", "Show the change each domain's agent made (unified diff per file, conflicts marked)") { id, domain, json };
        CliAction.Set(command, async (parse, cancellationToken) =>
        {
            await using var connection = await CliAction.ConnectAsync(cancellationToken);
            var taskId = parse.GetValue(id)!;
            var diffs = await connection.Client.GetDiffAsync(taskId, parse.GetValue(domain));
            if (parse.GetValue(json))
            {
                Render.Json(DiffRecord.ToJson(taskId, diffs));
                return 0;
            }

            // Written as is, never through Spectre: its markup parser and line wrapping would change an agent's text.
            Write(Console.Out, diffs, colour: !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR")));
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Agent text shown so that it cannot drive the terminal: control characters (escape sequences that move the
    /// cursor, hide lines or write the clipboard) and bidirectional overrides appear as visible escapes.
    /// </summary>
    internal static string Visible(string text)
    {
        if (!text.Any(IsHidden))
        {
            return text;
        }

        var shown = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            shown.Append(!IsHidden(c) ? c.ToString() : c < 0x100 ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
        }

        return shown.ToString();
    }

    private static bool IsHidden(char c) =>
        (c < 0x20 && c != '\t') || c is >= '\u007f' and <= '\u009f' || c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069';

    internal static void Write(TextWriter output, IReadOnlyList<DomainDiff> diffs, bool colour)
    {
        string Paint(string code, string text) => colour ? $"\u001b[{code}m{Visible(text)}\u001b[0m" : Visible(text);
        if (diffs.Count == 0)
        {
            output.WriteLine("No diff reported yet (a part that has not finished, or whose worker made none, has none).");
        }

        foreach (var diff in diffs)
        {
            var commits = diff.BaseCommit is null ? "" : $" · {Short(diff.BaseCommit)}..{Short(diff.Commit)}";
            output.WriteLine(Paint("1", $"=== {diff.Domain} (attempt {diff.Attempt}) · {diff.Merge ?? "not isolated"}{commits}{(diff.Branch is null ? "" : $" · branch {diff.Branch}")}"));
            if (diff.Files.Count == 0)
            {
                output.WriteLine("(no changes)");
            }

            foreach (var file in diff.Files)
            {
                if (file.Conflict)
                {
                    output.WriteLine(Paint("1;31", $"!!! CONFLICT {file.Path}: not merged; this version is on branch {diff.Branch}"));
                }

                if (file.Binary || file.Patch is null)
                {
                    output.WriteLine(Paint("1", $"{file.Path} ({file.Status}): " + (file.Binary ? "binary file, not shown" : "left out, past the size limit")));
                    continue;
                }

                foreach (var line in file.Patch.TrimEnd('\n').Split('\n'))
                {
                    output.WriteLine(line switch
                    {
                        _ when line.StartsWith("diff --git ", StringComparison.Ordinal) => Paint("1", line),
                        _ when line.StartsWith("+++", StringComparison.Ordinal) || line.StartsWith("---", StringComparison.Ordinal) => Paint("1", line),
                        _ when line.StartsWith('+') => Paint("32", line),
                        _ when line.StartsWith('-') => Paint("31", line),
                        _ when line.StartsWith("@@", StringComparison.Ordinal) => Paint("36", line),
                        _ => Visible(line),
                    });
                }
            }

            if (diff.Truncated)
            {
                output.WriteLine(Paint("33", "… diff truncated: it passed the limit of 256 KiB per domain; see the branch or commit for all of it"));
            }
        }
    }

    private static string Short(string? commit) => commit is null ? "?" : commit[..Math.Min(8, commit.Length)];
}
