using System.CommandLine;
using System.CommandLine.Parsing;
using Microsoft.Extensions.Options;
using Orchestrator.Client;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary>Runs a command's body and turns every refusal into one line on stderr and a non-zero exit code.</summary>
internal static class CliAction
{
    public const int InvalidInput = 2;
    public const int NotFound = 3;
    public const int Unreachable = 4;
    public const int NotCompleted = 1;

    public static void Set(Command command, Func<ParseResult, CancellationToken, Task<int>> body) =>
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                return await body(parse, cancellationToken);
            }
            catch (Exception e) when (Unwrap(e) is { } known)
            {
                return Fail(known.Message, known switch
                {
                    InvalidTaskRequestException or ArgumentException or OptionsValidationException => InvalidInput,
                    UnknownTaskException or TaskConflictException => NotFound,
                    OrchestratorUnreachableException => Unreachable,
                    _ => NotCompleted,
                });
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return Fail("Interrupted.", 130);
            }
            catch (Exception e) when (e.GetBaseException() is TimeoutException)
            {
                return Fail(TimedOut(parse), NotCompleted);
            }
        });

    /// <summary>Connects to the cluster's gateway for commands that work against a running silo.</summary>
    public static Task<OrchestratorConnection> ConnectAsync(CancellationToken cancellationToken) =>
        OrchestratorConnection.ConnectAsync(cancellationToken: cancellationToken);

    private static Exception? Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerException!),
        InvalidTaskRequestException or UnknownTaskException or TaskConflictException or DomainSpawnException or DomainOperationException
            or OrchestratorUnreachableException or ArgumentException or OptionsValidationException => e,
        _ => null,
    };

    /// <summary>
    /// An Orleans call that got no answer within the response timeout: the silo may still be doing the work, so the
    /// message says what was asked and how to see where it stands.
    /// </summary>
    private static string TimedOut(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result.Parent is CommandResult parent; result = parent)
        {
            names.Insert(0, result.Command.Name); // the root's name is the program's, not a command
        }

        var command = string.Join(' ', names);
        return $"The orchestrator did not answer `orchestrator {command}` within its response timeout. The work may still be going on: "
            + "see where it stands with `orchestrator domains` or `orchestrator status <id>` before trying again; a silo this slow is overloaded or stuck (see its log).";
    }

    private static int Fail(string message, int code)
    {
        // Plain text, never wrapped: scripts match on this one line.
        Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ")}");
        return code;
    }
}
