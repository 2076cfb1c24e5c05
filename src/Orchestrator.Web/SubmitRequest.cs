using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Orchestrator.Contracts;

namespace Orchestrator.Web;

/// <summary>
/// The body of <c>POST /api/tasks</c>: <c>description</c>, <c>requirements</c>, <c>context</c>, <c>priority</c>,
/// <c>timeout_seconds</c>, <c>domains</c>, <c>after</c> (orderings like <c>"frontend:backend"</c>), <c>budget_usd</c>, <c>budget_tokens</c>, <c>notify_url</c> — the CLI's <c>submit</c> options. A field of the wrong type is refused
/// naming the field; the values are then validated exactly as for the CLI.
/// </summary>
public static class SubmitRequest
{
    public static async Task<TaskSubmission> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException e)
        {
            throw new InvalidTaskRequestException($"The body is not valid JSON: {e.Message}");
        }

        if (body is not JsonObject fields)
        {
            throw new InvalidTaskRequestException("The body must be a JSON object with at least \"description\".");
        }

        var context = fields["context"];
        if (context is not null and not JsonObject)
        {
            throw new InvalidTaskRequestException("\"context\" must be a JSON object.");
        }

        return new TaskSubmission
        {
            Description = String(fields, "description") ?? "",
            Requirements = Strings(fields, "requirements"),
            ContextJson = context?.ToJsonString(),
            Priority = StateNames.ParsePriority(String(fields, "priority")),
            TimeoutSeconds = Integer(fields, "timeout_seconds"),
            Domains = Strings(fields, "domains"),
            After = Strings(fields, "after").Select(DomainDependency.Parse).ToArray(),
            BudgetUsd = Number(fields, "budget_usd"),
            BudgetTokens = Tokens(fields, "budget_tokens"),
            NotifyUrl = String(fields, "notify_url"),
            Source = "http",
        };
    }

    private static string? String(JsonObject fields, string name) => fields[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new InvalidTaskRequestException($"\"{name}\" must be a string."),
    };

    private static int? Integer(JsonObject fields, string name) => fields[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var i) => i,
        _ => throw new InvalidTaskRequestException($"\"{name}\" must be a whole number of seconds."),
    };

    private static double? Number(JsonObject fields, string name) => fields[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) => d,
        _ => throw new InvalidTaskRequestException($"\"{name}\" must be a number of US dollars."),
    };

    private static long? Tokens(JsonObject fields, string name) => fields[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l) => l,
        _ => throw new InvalidTaskRequestException($"\"{name}\" must be a whole number of tokens."),
    };

    private static IReadOnlyList<string> Strings(JsonObject fields, string name) => fields[name] switch
    {
        null => [],
        JsonArray items => items.Select(i => i is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new InvalidTaskRequestException($"\"{name}\" must be a list of strings.")).ToArray(),
        _ => throw new InvalidTaskRequestException($"\"{name}\" must be a list of strings."),
    };
}
