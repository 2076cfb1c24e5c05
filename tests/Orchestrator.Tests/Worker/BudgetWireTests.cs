using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Tests.Worker;

/// <summary>A task's budget on the wire: our extra <c>metadata.budget_usd</c> and <c>metadata.budget_tokens</c>, absent when there is none.</summary>
public sealed class BudgetWireTests
{
    private static SubtaskSpec Spec(double? usd, long? tokens) => new()
    {
        TaskId = "sub-1", ParentTaskId = "task-1", Domain = "backend", Description = "Add an API endpoint", BudgetUsd = usd, BudgetTokens = tokens,
    };

    [Fact]
    public void The_budget_travels_in_metadata_and_is_read_back()
    {
        var json = TaskMessage.From(Spec(2.5, 100_000), attempt: 1, DateTimeOffset.UnixEpoch, lease: null).ToJson();

        Assert.Equal(2.5, (double)JsonNode.Parse(json)!["metadata"]!["budget_usd"]!);
        Assert.Equal(100_000, (long)JsonNode.Parse(json)!["metadata"]!["budget_tokens"]!);
        Assert.Equal((2.5, 100_000L), (TaskMessage.Parse(json).BudgetUsd, TaskMessage.Parse(json).BudgetTokens));
    }

    [Fact]
    public void A_message_without_a_budget_has_no_such_fields_as_the_reference_writes_it()
    {
        var metadata = JsonNode.Parse(TaskMessage.From(Spec(null, null), attempt: 1, DateTimeOffset.UnixEpoch, lease: null).ToJson())!["metadata"]!.AsObject();

        Assert.False(metadata.ContainsKey("budget_usd"));
        Assert.False(metadata.ContainsKey("budget_tokens"));
    }

    [Theory]
    [InlineData("\"budget_usd\": -1", "'metadata.budget_usd' is not a positive number")]
    [InlineData("\"budget_tokens\": \"lots\"", "'metadata.budget_tokens' is not a positive number")]
    public void A_budget_that_is_not_a_positive_number_is_refused_naming_it(string field, string expected)
    {
        var json = "{\"task_id\": \"t-1\", \"payload\": {\"description\": \"x\"}, \"metadata\": {" + field + "}}";

        Assert.Equal(expected, Assert.Throws<WireFormatException>(() => TaskMessage.Parse(json)).Message);
    }
}
