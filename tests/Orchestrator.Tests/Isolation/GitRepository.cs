using Orchestrator.Worker.Isolation;

namespace Orchestrator.Tests.Isolation;

/// <summary>Real git in a test's directory: a repository with a first commit, and the commands the assertions read.</summary>
public static class GitRepository
{
    public static async Task InitAsync(string directory, params (string Path, string Content)[] files)
    {
        Directory.CreateDirectory(directory);
        await RunAsync(directory, "init", "-q", "-b", "main");
        await RunAsync(directory, "config", "user.name", "The User");
        await RunAsync(directory, "config", "user.email", "user@example.com");
        foreach (var (path, content) in files.Append(("README.md", "# project\n")))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(directory, path))!);
            File.WriteAllText(Path.Combine(directory, path), content);
        }

        await RunAsync(directory, "add", "-A");
        await RunAsync(directory, "commit", "-q", "-m", "First commit");
    }

    public static async Task<string> RunAsync(string directory, params string[] arguments) =>
        await new Git(directory).CheckAsync(arguments);
}
