using System.CommandLine;
using Orchestrator.Cli.Commands;

namespace Orchestrator.Tests.Cli;

/// <summary>How the CLI reports a call that Orleans gave up on: what was asked, that it may still run, where to look.</summary>
[Collection(nameof(ConsoleErrorCollection))]
public sealed class CliTimeoutTests
{
    [Fact]
    public async Task A_response_timeout_is_one_error_line_naming_the_command_and_what_to_do()
    {
        var spawn = new Command("spawn");
        CliAction.Set(spawn, (_, _) => throw new TimeoutException("Response did not arrive on time in 00:00:30 for message: Request [...]"));
        var root = new RootCommand { new Command("domains") { spawn } };
        var stderr = new StringWriter();
        var original = Console.Error;
        Console.SetError(stderr);
        int exit;
        try
        {
            exit = await root.Parse(["domains", "spawn"]).InvokeAsync();
        }
        finally
        {
            Console.SetError(original);
        }

        Assert.Equal(1, exit);
        Assert.Equal(
            "error: The orchestrator did not answer `orchestrator domains spawn` within its response timeout. The work may still be going on: "
            + "see where it stands with `orchestrator domains` or `orchestrator status <id>` before trying again; a silo this slow is overloaded or stuck (see its log)."
            + Environment.NewLine,
            stderr.ToString());
    }
}

/// <summary>Tests that take over the process's standard error run one at a time.</summary>
[CollectionDefinition(nameof(ConsoleErrorCollection), DisableParallelization = true)]
public sealed class ConsoleErrorCollection;
