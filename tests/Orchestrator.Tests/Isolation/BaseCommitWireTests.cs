using System.Text.Json.Nodes;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Tests.Isolation;

/// <summary>The task's base commit on the wire: our extra <c>metadata.base_commit</c>, absent for messages that have none.</summary>
public sealed class BaseCommitWireTests
{
    private static SubtaskSpec Spec(string? baseCommit) => new()
    {
        TaskId = "sub-1", ParentTaskId = "task-1", Domain = "backend", Description = "Add an API endpoint", BaseCommit = baseCommit,
    };

    [Fact]
    public void The_base_commit_travels_in_metadata_and_is_read_back()
    {
        const string commit = "9c1e2f3a4b5c6d7e8f9009c1e2f3a4b5c6d7e8f9";

        var json = TaskMessage.From(Spec(commit), attempt: 1, DateTimeOffset.UnixEpoch, lease: null).ToJson();

        Assert.Equal(commit, (string)JsonNode.Parse(json)!["metadata"]!["base_commit"]!);
        Assert.Equal(commit, TaskMessage.Parse(json).BaseCommit);
    }

    [Fact]
    public void A_message_without_a_base_commit_has_no_such_field_as_the_reference_writes_it()
    {
        var json = TaskMessage.From(Spec(null), attempt: 1, DateTimeOffset.UnixEpoch, lease: null).ToJson();

        Assert.Null(JsonNode.Parse(json)!["metadata"]!["base_commit"]);
        Assert.Null(TaskMessage.Parse(json).BaseCommit);
    }
}
