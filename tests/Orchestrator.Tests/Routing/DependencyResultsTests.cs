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
}
