using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Client;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Validation;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator analyze</c>: the plan — domains, requirements and workers — without running anything.</summary>
internal static class AnalyzeCommand
{
    public static Command Create()
    {
        var input = new TaskInput();
        var json = CommonOptions.Json();
        var command = new Command("analyze", "Show how a task would be routed and split, without running it");
        input.AddTo(command);
        command.Add(json);
        CliAction.Set(command, (parse, _) =>
        {
            var configuration = new ConfigurationBuilder().AddOrchestratorConfiguration().Build();
            using var services = new ServiceCollection().AddTaskRouting(configuration).BuildServiceProvider();
            var submission = services.GetRequiredService<TaskRequestValidator>().Validate(input.Read(parse));
            Render.Plan(services.GetRequiredService<TaskPlanner>().Plan(submission), parse.GetValue(json));
            return Task.FromResult(0);
        });
        return command;
    }
}
