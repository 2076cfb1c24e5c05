using System.CommandLine;
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
        });

    /// <summary>Connects to the cluster's gateway for commands that work against a running silo.</summary>
    public static Task<OrchestratorConnection> ConnectAsync(CancellationToken cancellationToken) =>
        OrchestratorConnection.ConnectAsync(cancellationToken: cancellationToken);

    private static Exception? Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerException!),
        InvalidTaskRequestException or UnknownTaskException or TaskConflictException or DomainSpawnException
            or OrchestratorUnreachableException or ArgumentException or OptionsValidationException => e,
        _ => null,
    };

    private static int Fail(string message, int code)
    {
        // Plain text, never wrapped: scripts match on this one line.
        Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ")}");
        return code;
    }
}
