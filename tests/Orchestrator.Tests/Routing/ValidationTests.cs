using Orchestrator.Contracts;
using Orchestrator.Core.Validation;

namespace Orchestrator.Tests.Routing;

public sealed class ValidationTests
{
    private static readonly TaskRequestValidator Validator = Support.Routing.Validator();

    private static string Refusal(TaskSubmission submission) =>
        Assert.Throws<InvalidTaskRequestException>(() => Validator.Validate(submission)).Message;

    [Theory]
    [InlineData("")]
    [InlineData("   \t ")]
    public void An_empty_description_is_refused(string description) =>
        Assert.Contains("description is empty", Refusal(new TaskSubmission { Description = description }));

    [Fact]
    public void A_description_over_the_limit_is_refused_with_the_limit() =>
        Assert.Contains($"limit is {TaskRequestValidator.MaxDescriptionLength}",
            Refusal(new TaskSubmission { Description = new string('a', TaskRequestValidator.MaxDescriptionLength + 1) }));

    [Fact]
    public void Too_many_requirements_are_refused() =>
        Assert.Contains($"limit is {TaskRequestValidator.MaxRequirements}",
            Refusal(new TaskSubmission { Description = "api", Requirements = Enumerable.Repeat("x", TaskRequestValidator.MaxRequirements + 1).ToArray() }));

    [Fact]
    public void A_requirement_over_the_limit_is_refused_naming_it() =>
        Assert.Contains("Requirement 2",
            Refusal(new TaskSubmission { Description = "api", Requirements = ["ok", new string('r', TaskRequestValidator.MaxRequirementLength + 1)] }));

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("\"text\"", "must be a JSON object")]
    public void Context_that_is_not_a_json_object_is_refused(string context, string expected) =>
        Assert.Contains(expected, Refusal(new TaskSubmission { Description = "api", ContextJson = context }));

    [Fact]
    public void An_unknown_domain_is_refused_listing_the_known_ones() =>
        Assert.Contains("Known domains: backend, frontend, devops",
            Refusal(new TaskSubmission { Description = "api", Domains = ["mobile"] }));

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void A_non_positive_timeout_is_refused(int timeout) =>
        Assert.Contains("out of range", Refusal(new TaskSubmission { Description = "api", TimeoutSeconds = timeout }));

    [Fact]
    public void An_undefined_priority_is_refused() =>
        Assert.Contains("not one of low, normal, high", Refusal(new TaskSubmission { Description = "api", Priority = (TaskPriority)7 }));

    [Fact]
    public void A_valid_request_is_trimmed_and_normalised()
    {
        var valid = Validator.Validate(new TaskSubmission { Description = "  api  ", Requirements = [" a "], ContextJson = "{ \"x\" : 1 }", Domains = ["Backend"] });

        Assert.Equal("api", valid.Description);
        Assert.Equal(["a"], valid.Requirements);
        Assert.Equal(["backend"], valid.Domains);
        Assert.Equal("{ \"x\" : 1 }", valid.ContextJson);
    }
}
