using Orchestrator.Contracts;
using Orchestrator.Core.Routing;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Routing;

public sealed class TaskPlannerTests
{
    private static TaskPlan Plan(string description, params string[] requirements) =>
        Support.Routing.Planner().Plan(new TaskSubmission { Description = description, Requirements = requirements });

    [Fact]
    public void Seed_example_registration_splits_requirements_between_backend_and_frontend()
    {
        var plan = Plan("Create user registration with form and API", "POST /api/users/register", "Build registration form component");

        Assert.Equal(["backend", "frontend"], plan.Domains);
        var backend = plan.Subtasks.Single(s => s.Domain == "backend");
        var frontend = plan.Subtasks.Single(s => s.Domain == "frontend");
        Assert.Equal(["POST /api/users/register"], backend.Requirements);
        Assert.Equal(["Build registration form component"], frontend.Requirements);
        Assert.Equal("Create user registration with form and API", backend.Description);
        Assert.Contains("auth-worker", backend.Workers);
        Assert.Contains("react-worker", frontend.Workers);
    }

    [Fact]
    public void Seed_example_deploy_authentication_routes_to_backend_and_devops()
    {
        var plan = Plan("Deploy the authentication service");

        Assert.Equal(["backend", "devops"], plan.Domains);
        Assert.Contains("ci-worker", plan.Subtasks.Single(s => s.Domain == "devops").Workers);
    }

    [Theory]
    [InlineData("deploy the app")]
    [InlineData("the app deploys nightly")]
    [InlineData("write the deployment")]
    [InlineData("deploying is slow")]
    [InlineData("DEPLOY IT")]
    public void Inflections_of_deploy_route_to_devops(string description) =>
        Assert.Equal(["devops"], Plan(description).Domains);

    [Theory]
    [InlineData("add an endpoint")]
    [InlineData("add two endpoints")]
    [InlineData("speed up the queries")]
    [InlineData("the rows it queried")]
    public void Inflections_route_to_backend(string description) =>
        Assert.Equal(["backend"], Plan(description).Domains);

    [Theory]
    [InlineData("fix the styling")]
    [InlineData("the header is styled")]
    public void Inflections_that_drop_the_final_e_route_to_frontend(string description) =>
        Assert.Equal(["frontend"], Plan(description).Domains);

    [Theory]
    [InlineData("the stylist")]
    [InlineData("queryies")]
    public void Near_misses_of_an_inflection_do_not_match(string description) =>
        Assert.False(new KeywordMatcher(["style", "query"]).Matches(description));

    [Theory]
    [InlineData("run it on k8s", "devops")]
    [InlineData("improve a11y of the page", "frontend")]
    public void Tokens_with_digits_match_as_written(string description, string domain) =>
        Assert.Contains(domain, Plan(description).Domains);

    [Fact]
    public void Multi_word_worker_keywords_match_their_words_in_sequence()
    {
        var devops = Plan("Set up the pipeline with GitHub Actions").Subtasks.Single(s => s.Domain == "devops");
        var frontend = Plan("Make the page work with a screen reader").Subtasks.Single(s => s.Domain == "frontend");

        Assert.Contains("ci-worker", devops.Workers);
        Assert.Contains("a11y-worker", frontend.Workers);
    }

    [Fact]
    public void Multi_word_keywords_do_not_match_their_words_apart()
    {
        var frontend = Plan("Read the page on screen, then the reader").Subtasks.Single(s => s.Domain == "frontend");

        Assert.DoesNotContain("a11y-worker", frontend.Workers);
    }

    [Theory]
    [InlineData("contact the author")]
    [InlineData("restore the former layout of the kitchen")]
    public void Keywords_match_whole_words_only(string description)
    {
        var plan = Plan(description + " page");

        Assert.Equal(["frontend"], plan.Domains); // "author" is not "auth", "former" is not "form", "restore" is not "rest"
    }

    [Fact]
    public void A_requirement_that_matches_no_domain_goes_to_the_domains_of_the_description()
    {
        var plan = Plan("Build the login form and its API", "Make it fast");

        Assert.All(plan.Subtasks, s => Assert.Contains("Make it fast", s.Requirements));
    }

    [Fact]
    public void A_requirement_is_routed_on_its_own_text()
    {
        var plan = Plan("Create a REST API", "Dockerfile for the container");

        Assert.Equal(["backend", "devops"], plan.Domains);
        Assert.Equal(["Dockerfile for the container"], plan.Subtasks.Single(s => s.Domain == "devops").Requirements);
        Assert.Empty(plan.Subtasks.Single(s => s.Domain == "backend").Requirements);
    }

    [Fact]
    public void Nothing_matching_is_an_error_that_lists_the_known_domains()
    {
        var error = Assert.Throws<InvalidTaskRequestException>(() => Plan("make coffee"));

        Assert.Contains("backend, frontend, devops", error.Message);
        Assert.Contains("--domain", error.Message);
    }

    [Fact]
    public void Named_domains_take_the_task_when_nothing_matches()
    {
        var plan = Support.Routing.Planner().Plan(new TaskSubmission { Description = "make coffee", Domains = ["devops"] });

        Assert.Equal(["devops"], plan.Domains);
    }

    [Fact]
    public void Named_domains_restrict_routing()
    {
        var plan = Support.Routing.Planner().Plan(new TaskSubmission { Description = "Create user registration with form and API", Domains = ["frontend"] });

        Assert.Equal(["frontend"], plan.Domains);
    }

    [Fact]
    public void A_configured_default_domain_takes_what_nothing_matches()
    {
        var plan = Support.Routing.Planner(new Dictionary<string, string?> { ["Routing:DefaultDomain"] = "backend" })
            .Plan(new TaskSubmission { Description = "make coffee", Requirements = ["strong"] });

        Assert.Equal(["backend"], plan.Domains);
        Assert.Equal(["strong"], plan.Subtasks[0].Requirements);
    }

    [Fact]
    public void A_domain_added_in_configuration_is_routed_to_without_recompiling()
    {
        var planner = Support.Routing.Planner(new Dictionary<string, string?>
        {
            ["Routing:Domains:mobile:Order"] = "40",
            ["Routing:Domains:mobile:Keywords:0"] = "ios",
            ["Routing:Domains:mobile:Keywords:1"] = "android",
            ["Routing:Domains:mobile:Workers:swift-worker:0"] = "ios",
        });

        var plan = planner.Plan(new TaskSubmission { Description = "Ship the Android and iOS apps with an API" });

        Assert.Equal(["backend", "mobile"], plan.Domains);
        Assert.Equal(["swift-worker"], plan.Subtasks.Single(s => s.Domain == "mobile").Workers);
    }

    [Fact]
    public void A_keyword_added_in_configuration_routes_to_its_domain()
    {
        var planner = Support.Routing.Planner(new Dictionary<string, string?> { ["Routing:Domains:frontend:Keywords:15"] = "svelte" });

        Assert.Equal(["frontend"], planner.Plan(new TaskSubmission { Description = "Port it to Svelte" }).Domains);
    }

    [Fact]
    public void A_cycle_of_orderings_is_refused_naming_it()
    {
        var error = Assert.Throws<InvalidTaskRequestException>(() => Support.Routing.Planner().Plan(new TaskSubmission
        {
            Description = "Create user registration with form and API",
            After = [new("frontend", "backend"), new("backend", "frontend")],
        }));

        Assert.Contains("The domains' order has a cycle: backend after frontend after backend", error.Message);
    }

    [Fact]
    public void An_ordering_naming_a_domain_outside_the_plan_is_refused_naming_the_plans_domains()
    {
        var error = Assert.Throws<InvalidTaskRequestException>(() => Support.Routing.Planner().Plan(new TaskSubmission
        {
            Description = "Add an API endpoint",
            After = [new("frontend", "backend")],
        }));

        Assert.Equal("The ordering frontend:backend names frontend, which is not in this task's plan (backend).", error.Message);
    }

    [Fact]
    public void A_routing_rule_orders_two_domains_only_when_both_are_in_the_plan()
    {
        var planner = Support.Routing.Planner(new Dictionary<string, string?> { ["Routing:After:frontend:0"] = "backend", ["Routing:After:devops:0"] = "frontend" });

        var both = planner.Plan(new TaskSubmission { Description = "Deploy the registration form and its API" });
        var one = planner.Plan(new TaskSubmission { Description = "Deploy the API" });

        Assert.Equal(["backend", "frontend", "devops"], both.Domains);
        Assert.Equal([[], ["backend"], ["frontend"]], both.Subtasks.Select(s => s.After));
        Assert.Equal([[], []], one.Subtasks.Select(s => s.After));
    }

    [Fact]
    public void A_routing_rule_naming_an_unknown_domain_stops_the_start_naming_it()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Support.Routing.Planner(new Dictionary<string, string?> { ["Routing:After:frontend:0"] = "mobile" }));

        Assert.StartsWith("Routing:After names 'mobile', which is not a configured domain", error.Message);
    }

    [Fact]
    public void Routing_rules_with_a_cycle_stop_the_start_naming_it()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Support.Routing.Planner(
            new Dictionary<string, string?> { ["Routing:After:frontend:0"] = "backend", ["Routing:After:backend:0"] = "frontend" }));

        Assert.Contains("Routing:After has a cycle:", error.Message);
    }
}
