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
return await root.Parse(args).InvokeAsync();
