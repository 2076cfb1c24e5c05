using System.CommandLine;
using Orchestrator.Cli.Commands;

var root = new RootCommand("orchestrator: route coding tasks to domain agents (backend, frontend, devops) and aggregate their results.")
{
    RunCommand.Create(),
    AnalyzeCommand.Create(),
    SubmitCommand.Create(),
    StatusCommand.Create(),
    LogsCommand.Create(),
    DiffCommand.Create(),
    TasksCommand.Create(),
    CancelCommand.Create(),
    RetryCommand.Create(),
    DomainsCommand.Create(),
    AgentsCommand.Create(),
    BenchCommand.Create(),
};
// Ctrl+C cancels the command's token, and the command then ends its work (a task cancelled, an embedded silo and its
// agents stopped) before the process exits: given this long, past which it exits with 130 all the same.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
