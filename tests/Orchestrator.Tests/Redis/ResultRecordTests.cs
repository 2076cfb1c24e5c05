using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using Orchestrator.Redis;

namespace Orchestrator.Tests.Redis;

/// <summary>The result a worker publishes on <c>results:{task_id}</c>, as the orchestrator reads it.</summary>
public sealed class ResultRecordTests
{
    private static readonly AgentResult Result = new()
    {
        TaskId = "t-1",
        Succeeded = true,
        OutputJson = """{"files_created":["api/users.py"],"note":"<b>&'é"}""",
        StartedAt = DateTimeOffset.Parse("2026-11-28T10:00:00Z"),
        CompletedAt = DateTimeOffset.Parse("2026-11-28T10:00:01Z"),
        AgentId = "backend-1",
        LeaseProof = "proof",
    };

    [Fact]
    public void A_published_result_reads_back_as_written()
    {
        var read = ResultRecord.FromPublishedJson("t-1", ResultRecord.ToPublishedJson(ResultRecord.FinalFields(Result)));

        Assert.Equal(Result with { Error = null }, read);
    }

    [Fact]
    public void An_output_published_as_an_object_rather_than_a_string_is_read_as_its_json_text()
    {
        var read = ResultRecord.FromPublishedJson("t-1", """{"task_id":"t-1","status":"completed","output":{"files_created":[]}}""");

        Assert.Equal("""{"files_created":[]}""", read!.OutputJson);
    }

    [Fact]
    public void A_published_result_naming_a_field_twice_is_refused()
    {
        var error = Assert.Throws<WireFormatException>(() =>
            ResultRecord.FromPublishedJson("t-1", """{"task_id":"t-1","status":"failed","status":"completed"}"""));

        Assert.Contains("'status' twice", error.Message);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("{} {}")]
    [InlineData("{\"a\":")]
    public void An_output_that_is_not_one_json_object_fails_the_result_with_the_reason(string output)
    {
        var fields = ResultRecord.FinalFields(Result with { OutputJson = output });

        var read = ResultRecord.FromPublishedJson("t-1", ResultRecord.ToPublishedJson(fields));

        Assert.False(read!.Succeeded);
        Assert.Null(read.OutputJson);
        Assert.Equal("The worker's output is not a JSON object", read.Error);
    }
}
