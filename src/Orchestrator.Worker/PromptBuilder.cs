using System.Text;
using System.Text.Json;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Worker;

/// <summary>The prompt an agent gets on standard input: the reference runner's sections, plus the chosen worker specialisations.</summary>
public static class PromptBuilder
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Build(TaskMessage message, string domainType, string directory)
    {
        var prompt = new StringBuilder();
        prompt.AppendLine($"You are the {domainType} domain specialist of a distributed agent network.");
        if (message.Workers.Count > 0)
        {
            prompt.AppendLine($"Work as these specialists of the {domainType} domain: {string.Join(", ", message.Workers)}.");
        }

        prompt.AppendLine();
        prompt.AppendLine("## Task");
        prompt.AppendLine(message.Description);
        prompt.AppendLine();
        prompt.AppendLine("## Requirements");
        if (message.Requirements.Count == 0)
        {
            prompt.AppendLine("- (none beyond the task itself)");
        }

        foreach (var requirement in message.Requirements)
        {
            prompt.AppendLine($"- {requirement}");
        }

        prompt.AppendLine();
        prompt.AppendLine("## Context");
        using (var context = JsonDocument.Parse(message.ContextJson))
        {
            prompt.AppendLine(JsonSerializer.Serialize(context.RootElement, Indented));
        }

        prompt.AppendLine();
        prompt.AppendLine("## Instructions");
        prompt.AppendLine($"- Work in {directory}.");
        prompt.AppendLine("- Complete the task and every requirement.");
        prompt.AppendLine("- End with a short summary of the files you created or modified.");
        return prompt.ToString();
    }
}
