using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Grains;
using Orchestrator.Redis;

namespace Orchestrator.Tests.Routing;

public sealed class TaskMessageTests
{
    private static readonly SubtaskSpec Spec = new()
    {
        TaskId = "6f1c1d2e-0000-4000-8000-000000000001",
        ParentTaskId = "parent",
        Domain = "backend",
        Description = "Create user registration endpoint",
        Requirements = ["POST /api/users/register"],
        ContextJson = """{"project_type":"node-express"}""",
        Workers = ["auth-worker"],
        Priority = TaskPriority.High,
        TimeoutSeconds = 120,
        Source = "main-orchestrator",
    };

    [Fact]
    public void A_message_has_the_reference_fields_and_names()
    {
        var json = JsonNode.Parse(TaskMessage.From(Spec, 2, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), lease: "0123456789abcdef0123456789abcdef").ToJson())!;

        Assert.Equal(Spec.TaskId, (string?)json["task_id"]);
        Assert.Equal("task_assignment", (string?)json["type"]);
        Assert.Equal("main-orchestrator", (string?)json["source"]);
        Assert.Equal("backend", (string?)json["destination"]);
        Assert.Equal("2026-01-02T03:04:05.000000+00:00", (string?)json["timestamp"]);
        Assert.Equal("Create user registration endpoint", (string?)json["payload"]!["description"]);
        Assert.Equal("POST /api/users/register", (string?)json["payload"]!["requirements"]![0]);
        Assert.Equal("node-express", (string?)json["payload"]!["context"]!["project_type"]);
        Assert.Equal("high", (string?)json["metadata"]!["priority"]);
        Assert.Equal(120, (int)json["metadata"]!["timeout_seconds"]!);
        Assert.Equal("0123456789abcdef0123456789abcdef", (string?)json["metadata"]!["lease"]);
    }

    [Fact]
    public void A_message_round_trips()
    {
        var parsed = TaskMessage.Parse(TaskMessage.From(Spec, 3, DateTimeOffset.UtcNow, lease: "0123456789abcdef0123456789abcdef").ToJson());

        Assert.Equal(Spec.TaskId, parsed.TaskId);
        Assert.Equal(Spec.Workers, parsed.Workers);
        Assert.Equal(TaskPriority.High, parsed.Priority);
        Assert.Equal(3, parsed.Attempt);
        Assert.Equal("parent", parsed.ParentTaskId);
        Assert.Equal("0123456789abcdef0123456789abcdef", parsed.Lease);
    }

    [Fact]
    public void A_minimal_reference_message_parses_with_defaults()
    {
        var parsed = TaskMessage.Parse("""{"task_id":"t1","payload":{"description":"do it"}}""");

        Assert.Equal(TaskPriority.Normal, parsed.Priority);
        Assert.Equal(300, parsed.TimeoutSeconds);
        Assert.Empty(parsed.Requirements);
        Assert.Equal("{}", parsed.ContextJson);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("""{"payload":{"description":"x"}}""", "'task_id' is missing")]
    [InlineData("""{"task_id":5,"payload":{"description":"x"}}""", "'task_id' is not a string")]
    [InlineData("""{"task_id":"t","payload":{"description":"x","requirements":"one"}}""", "'payload.requirements' is not a list")]
    [InlineData("""{"task_id":"t","payload":{"description":"x"},"metadata":{"timeout_seconds":"soon"}}""", "'metadata.timeout_seconds' is not a whole number")]
    [InlineData("""{"task_id":"t","payload":{"description":"x"},"metadata":{"priority":"urgent"}}""", "'metadata.priority' is 'urgent'")]
    public void A_malformed_message_names_the_bad_field(string json, string expected) =>
        Assert.Contains(expected, Assert.Throws<WireFormatException>(() => TaskMessage.Parse(json)).Message);

    [Fact]
    public void Backoff_grows_by_the_multiplier_up_to_the_maximum()
    {
        var policy = new RetryPolicyOptions { InitialBackoff = TimeSpan.FromSeconds(2), BackoffMultiplier = 3, MaxBackoff = TimeSpan.FromSeconds(10) };

        Assert.Equal(TimeSpan.FromSeconds(2), policy.BackoffBefore(2));
        Assert.Equal(TimeSpan.FromSeconds(6), policy.BackoffBefore(3));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.BackoffBefore(4));
    }

    [Fact]
    public void A_taken_messages_task_id_is_read_from_its_top_level() =>
        Assert.Equal(Spec.TaskId, RedisWorkerTransport.TaskIdOf(TaskMessage.From(Spec, 1, DateTimeOffset.UnixEpoch, lease: null).ToJson()));

    [Theory]
    [InlineData("not json")]
    [InlineData("[\"task_id\"]")]
    [InlineData("{\"task_id\": 42}")]
    [InlineData("{\"payload\": {\"task_id\": \"nested\"}}")]
    [InlineData("{\"task_id\": \"a\", \"task_id\": \"b\"}")]
    [InlineData("{\"task_id\": \"a\"} trailing")]
    [InlineData("{\"task_id\": \"a\"")]
    public void A_message_without_one_readable_task_id_has_none(string raw) =>
        Assert.Null(RedisWorkerTransport.TaskIdOf(raw));

    [Theory]
    [InlineData("{\"task_id\": \"a\", \"task_id\": \"b\", \"payload\": {\"description\": \"x\"}}")]
    [InlineData("{\"task_id\": \"a\", \"payload\": {\"description\": \"x\", \"description\": \"y\"}}")]
    [InlineData("{\"task_id\": \"a\", \"payload\": {\"description\": \"x\"}, \"metadata\": {\"priority\": \"low\", \"priority\": \"high\"}}")]
    [InlineData("{\"task_id\": \"\\ud800\", \"payload\": {\"description\": \"x\"}}")]
    public void A_message_that_cannot_be_read_is_refused_as_a_wire_format_error_and_nothing_else(string raw) =>
        Assert.Throws<WireFormatException>(() => TaskMessage.Parse(raw));
}
