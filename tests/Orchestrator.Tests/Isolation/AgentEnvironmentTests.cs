using Orchestrator.Contracts;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Isolation;

/// <summary>What an agent of an embedded domain can read of its silo: a real silo process with secrets in its environment.</summary>
public sealed class AgentEnvironmentTests
{
    /// <summary>
    /// Writes the agent's own environment to <paramref name="file"/>, and, when it does not run as root (root reads
    /// every process's environment), every ancestor's /proc/&lt;pid&gt;/environ it can read: the silo's or worker's
    /// must be closed to it.
    /// </summary>
    internal static string DumpsEnvironment(string file) => $$"""
        env > '{{file}}'
        [ "$(id -u)" = 0 ] && exit 0
        p=$PPID
        while [ "$p" -gt 1 ]; do
          if tr '\0' '\n' < /proc/$p/environ >> '{{file}}' 2>/dev/null; then echo "read $p" >> '{{file}}'; else echo "closed $p" >> '{{file}}'; fi
          p=$(awk '{print $4}' /proc/$p/stat)
        done
        """;

    [RedisFact]
    public async Task An_embedded_agent_sees_neither_the_silos_redis_password_nor_its_api_key_nor_its_webhook_secret_but_gets_the_model_key()
    {
        await using var redis = await RedisServer.StartAsync();
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var apiKey = "web-" + Guid.NewGuid().ToString("N");
        var webhookSecret = "hook-" + Guid.NewGuid().ToString("N");
        await redis.Connection.GetServer(redis.ConnectionString).ExecuteAsync("CONFIG", "SET", "requirepass", password);
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var connection = $"{redis.ConnectionString},password={password}";
        await using var silo = await SiloProcess.StartAsync(new Dictionary<string, string>
        {
            ["Redis:ConnectionString"] = connection,
            ["Web:ApiKey"] = apiKey,
            ["Webhooks:Secret"] = webhookSecret,
            ["ANTHROPIC_API_KEY"] = "sk-ant-test-key",
            ["Domains:Workspace"] = dir.File("workspace"),
            ["Domains:Agent:Command"] = dir.Script("agent.sh", DumpsEnvironment(dir.File("seen"))),
        });
        await using var client = await silo.ConnectAsync(connection);

        var submitted = await client.Client.SubmitAsync(new TaskSubmission { Description = "Add an API endpoint" });
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var result = await client.Client.WaitForResultAsync(submitted.TaskId, bound.Token);

        Assert.Equal(TaskState.Completed, result.State);
        var seen = File.ReadAllText(dir.File("seen"));
        Assert.DoesNotContain(password, seen);
        Assert.DoesNotContain(apiKey, seen);
        Assert.DoesNotContain(webhookSecret, seen);
        Assert.DoesNotContain("Redis__ConnectionString", seen);
        Assert.Contains("ANTHROPIC_API_KEY=sk-ant-test-key", seen);
    }

    [Theory]
    [InlineData("ORCHESTRATOR_TEST_MODEL_KEY", false)]
    [InlineData("", false)]
    [InlineData("", true)]
    public async Task A_configured_pass_environment_replaces_the_default_model_key_and_a_blank_one_passes_nothing_also_to_a_type_override(
        string configured, bool typeOverride)
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("workspace"));
        var agent = dir.Script("agent.sh", $"env > '{dir.File("seen")}'");

        var (exit, _, stderr) = await CliProcess.RunAsync(new Dictionary<string, string>
        {
            ["ANTHROPIC_API_KEY"] = "sk-ant-test-key",
            ["ORCHESTRATOR_TEST_MODEL_KEY"] = "other-model-key",
            ["Domains__Agent__PassEnvironment__0"] = configured,
            // A type's own agent settings replace Domains:Agent's, but not what Domains:Agent passes.
            [typeOverride ? "Domains__Types__backend__Command" : "Domains__Agent__Command"] = agent,
        }, "run", "Add an API endpoint", "--workspace", dir.File("workspace"));

        Assert.True(exit == 0, stderr);
        var seen = File.ReadAllText(dir.File("seen"));
        Assert.DoesNotContain("sk-ant-test-key", seen);
        Assert.Equal(configured.Length > 0, seen.Contains("ORCHESTRATOR_TEST_MODEL_KEY=other-model-key"));
    }
}
