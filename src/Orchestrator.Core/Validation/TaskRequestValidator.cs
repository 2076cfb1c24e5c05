using System.Text.Json;
using Orchestrator.Contracts;
using Orchestrator.Core.Routing;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Core.Validation;

/// <summary>Checks a request before anything is stored. Every refusal is one line that says what was wrong and what to do.</summary>
public sealed class TaskRequestValidator(TaskPlanner planner)
{
    public const int MaxDescriptionLength = 8_000;
    public const int MaxRequirementLength = 2_000;
    public const int MaxRequirements = 50;
    public const int MaxContextBytes = 64 * 1024;
    public const int MaxTimeoutSeconds = 24 * 60 * 60;

    /// <summary>Returns the request with trimmed text and lower-case domains, or throws <see cref="InvalidTaskRequestException"/>.</summary>
    public TaskSubmission Validate(TaskSubmission request)
    {
        var description = request.Description?.Trim() ?? "";
        if (description.Length == 0)
        {
            throw Invalid("The description is empty: say what the task should do.");
        }

        if (description.Length > MaxDescriptionLength)
        {
            throw Invalid($"The description is {description.Length} characters long; the limit is {MaxDescriptionLength}. Move details into requirements or context.");
        }

        var requirements = (request.Requirements ?? []).Select(r => r?.Trim() ?? "").ToArray();
        if (requirements.Length > MaxRequirements)
        {
            throw Invalid($"The task has {requirements.Length} requirements; the limit is {MaxRequirements}. Split it into several tasks.");
        }

        for (var i = 0; i < requirements.Length; i++)
        {
            if (requirements[i].Length == 0)
            {
                throw Invalid($"Requirement {i + 1} is empty: remove it or say what it requires.");
            }

            if (requirements[i].Length > MaxRequirementLength)
            {
                throw Invalid($"Requirement {i + 1} is {requirements[i].Length} characters long; the limit is {MaxRequirementLength}.");
            }
        }

        var context = NormalizeContext(request.ContextJson);

        if (request.TimeoutSeconds is { } timeout && (timeout <= 0 || timeout > MaxTimeoutSeconds))
        {
            throw Invalid($"The timeout {timeout} s is out of range: give a whole number of seconds from 1 to {MaxTimeoutSeconds}.");
        }

        if (request.BudgetUsd is { } usd && !(double.IsFinite(usd) && usd > 0))
        {
            throw Invalid($"The budget {usd} USD is out of range: give a positive amount of US dollars, e.g. 2.50.");
        }

        if (request.BudgetTokens is { } tokens && tokens <= 0)
        {
            throw Invalid($"The budget of {tokens} tokens is out of range: give a positive whole number of tokens.");
        }

        if (!Enum.IsDefined(request.Priority))
        {
            throw Invalid($"The priority '{(int)request.Priority}' is not one of low, normal, high.");
        }

        var domains = (request.Domains ?? []).Select(d => d?.Trim().ToLowerInvariant() ?? "").Distinct().ToArray();
        var unknown = domains.Where(d => !planner.IsKnownDomain(d)).ToArray();
        if (unknown.Length > 0)
        {
            throw Invalid($"Unknown domain '{unknown[0]}'. Known domains: {string.Join(", ", planner.KnownDomains)}.");
        }

        var after = (request.After ?? []).Select(a => new DomainDependency(a?.Domain?.Trim().ToLowerInvariant() ?? "", a?.After?.Trim().ToLowerInvariant() ?? "")).Distinct().ToArray();
        if (after.SelectMany(a => new[] { a.Domain, a.After }).FirstOrDefault(d => !planner.IsKnownDomain(d)) is { } unordered)
        {
            throw Invalid($"Unknown domain '{unordered}' in an ordering. Known domains: {string.Join(", ", planner.KnownDomains)}.");
        }

        // Only the form here: the silo checks where it points, and that it can sign (WebhookGuard).
        var notify = string.IsNullOrWhiteSpace(request.NotifyUrl) ? null : WebhookAddress.Parse(request.NotifyUrl).OriginalString;

        return request with
        {
            After = after,
            NotifyUrl = notify,
            Description = description,
            Requirements = requirements,
            ContextJson = context,
            Domains = domains,
            Source = string.IsNullOrWhiteSpace(request.Source) ? "main-orchestrator" : request.Source.Trim(),
        };
    }

    private static string? NormalizeContext(string? contextJson)
    {
        if (string.IsNullOrWhiteSpace(contextJson))
        {
            return null;
        }

        if (contextJson.Length > MaxContextBytes)
        {
            throw Invalid($"The context is {contextJson.Length} bytes; the limit is {MaxContextBytes}.");
        }

        try
        {
            using var document = JsonDocument.Parse(contextJson);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid($"The context must be a JSON object like {{\"project_type\": \"node-express\"}}, not a {document.RootElement.ValueKind.ToString().ToLowerInvariant()}.");
            }

            return document.RootElement.GetRawText();
        }
        catch (JsonException e)
        {
            throw Invalid($"The context is not valid JSON ({e.Message.Split('.')[0]}): give a JSON object like {{\"project_type\": \"node-express\"}}.");
        }
    }

    private static InvalidTaskRequestException Invalid(string message) => new(message);
}
