using System.CommandLine;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary>The options every task-creating command shares, and how they become a <see cref="TaskSubmission"/>.</summary>
internal sealed class TaskInput
{
    public Argument<string> Description { get; } = new("description") { Description = "What the task should do, e.g. \"Create user registration with form and API\"" };
    public Option<string[]> Requirements { get; } = new("--requirement", "-r") { Description = "A requirement; repeat for more", AllowMultipleArgumentsPerToken = false };
    public Option<string?> Context { get; } = new("--context") { Description = "A JSON object with context for the agents, e.g. '{\"project_type\":\"node-express\"}'" };
    public Option<string?> Priority { get; } = new("--priority", "-p") { Description = "low, normal (default) or high" };
    public Option<int?> Timeout { get; } = new("--timeout") { Description = "Seconds each domain may take (default 300)" };
    public Option<string[]> Domains { get; } = new("--domain", "-d") { Description = "Send to this domain instead of routing by keywords; repeat for more" };
    public Option<string[]> After { get; } = new("--after") { Description = "domain:dependency, e.g. frontend:backend: frontend starts once backend completed, with its result; repeat for more" };
    public Option<double?> BudgetUsd { get; } = new("--budget-usd") { Description = "US dollars each domain's agent run may cost; past it the agent is stopped (default: the orchestrator's Budget setting)" };
    public Option<long?> BudgetTokens { get; } = new("--budget-tokens") { Description = "Tokens each domain's agent run may use; past it the agent is stopped (default: the orchestrator's Budget setting)" };
    public Option<string?> Notify { get; } = new("--notify") { Description = "POST the signed result to this http(s) URL when the task is final (the silo needs Webhooks:Secret)" };

    public void AddTo(Command command)
    {
        command.Add(Description);
        command.Add(Requirements);
        command.Add(Context);
        command.Add(Priority);
        command.Add(Timeout);
        command.Add(Domains);
        command.Add(After);
        command.Add(BudgetUsd);
        command.Add(BudgetTokens);
        command.Add(Notify);
    }

    public TaskSubmission Read(ParseResult parse)
    {
        var priority = StateNames.ParsePriority(parse.GetValue(Priority));
        return new TaskSubmission
        {
            Description = parse.GetValue(Description) ?? "",
            Requirements = parse.GetValue(Requirements) ?? [],
            ContextJson = parse.GetValue(Context),
            Priority = priority,
            TimeoutSeconds = parse.GetValue(Timeout),
            Domains = parse.GetValue(Domains) ?? [],
            After = (parse.GetValue(After) ?? []).Select(DomainDependency.Parse).ToArray(),
            BudgetUsd = parse.GetValue(BudgetUsd),
            BudgetTokens = parse.GetValue(BudgetTokens),
            NotifyUrl = parse.GetValue(Notify),
            Source = "cli",
        };
    }
}

internal static class CommonOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Print JSON for programs instead of tables" };

    public static Argument<string> TaskId() => new("task-id") { Description = "The task's id, as `orchestrator tasks` lists it" };
}
