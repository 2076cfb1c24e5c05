using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;

namespace Orchestrator.Tests.Routing;

/// <summary>What a dependent is told of its dependency's output: bounded, however much the dependency printed.</summary>
public sealed class DependencyResultsTests
{
    [Fact]
    public void The_output_tail_handed_on_is_the_last_40_lines()
    {
        var output = string.Join('\n', Enumerable.Range(1, 100).Select(i => $"line {i}")) + "\n";

        var tail = DependencyResults.Tail(output);

        Assert.Equal(Enumerable.Range(61, 40).Select(i => $"line {i}"), tail.Split('\n'));
    }

    [Fact]
    public void The_output_tail_handed_on_is_at_most_4_KiB_of_its_end()
    {
        var output = string.Join('\n', Enumerable.Range(1, 40).Select(i => new string((char)('a' + i % 26), 200)));

        var tail = DependencyResults.Tail(output);

        Assert.Equal(4 * 1024, tail.Length);
        Assert.EndsWith(output[^100..], tail);
    }

    private static SubtaskView Completed(string domain, string? commit) => new()
    {
        TaskId = domain,
        Domain = domain,
        State = SubtaskState.Completed,
        OutputJson = commit is null ? """{"merge": "no_changes"}""" : $$"""{"commit": "{{commit}}", "merge": "merged"}""",
    };

    [Fact]
    public void A_dependent_starts_from_its_one_dependencys_commit_else_the_tasks_base_and_with_several_from_the_workspaces_head()
    {
        Assert.Equal("c1", DependencyResults.BaseCommitAfter([Completed("backend", "c1")], "base"));
        Assert.Equal("base", DependencyResults.BaseCommitAfter([Completed("backend", null)], "base"));
        Assert.Null(DependencyResults.BaseCommitAfter([Completed("backend", "c1"), Completed("devops", "c2")], "base"));
    }
}
