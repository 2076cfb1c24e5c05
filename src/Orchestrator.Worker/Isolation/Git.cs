using System.ComponentModel;
using CliWrap;
using CliWrap.Buffered;

namespace Orchestrator.Worker.Isolation;

/// <summary>
/// Runs git for one repository: either a workspace that is itself a repository, or a workspace whose repository
/// lives elsewhere (<c>--git-dir</c> / <c>--work-tree</c>, the private repository of a non-git workspace).
/// Output is parsed in the C locale; nothing ever prompts.
/// </summary>
public sealed class Git(string workingDirectory, IReadOnlyList<string>? repositoryArguments = null)
{
    /// <summary>
    /// Git runs in repositories and worktrees an agent could write to (its config, hooks, attributes): whatever it is
    /// talked into running runs without the worker's secrets. Only these of the worker's variables reach git.
    /// </summary>
    private static readonly string[] InheritedEnvironment = ["PATH", "HOME", "LANG", "TMPDIR"];

    private static readonly IReadOnlyDictionary<string, string?> Environment = Scrubbed(new Dictionary<string, string?>
    {
        ["LC_ALL"] = "C",
        ["GIT_TERMINAL_PROMPT"] = "0",
        // Paths handed over by us are file names, never patterns.
        ["GIT_LITERAL_PATHSPECS"] = "1",
        ["GIT_OPTIONAL_LOCKS"] = "0",
        // A worker in a container runs as another user than the one who owns the mounted workspace; it is the
        // workspace we were configured to use, so git's ownership check would only stop the work.
        ["GIT_CONFIG_COUNT"] = "5",
        ["GIT_CONFIG_KEY_0"] = "safe.directory",
        ["GIT_CONFIG_VALUE_0"] = "*",
        // No housekeeping in the background of our commits: an automatic gc may pack refs while other workers read
        // them, and the user's repository is theirs to maintain.
        ["GIT_CONFIG_KEY_1"] = "gc.auto",
        ["GIT_CONFIG_VALUE_1"] = "0",
        ["GIT_CONFIG_KEY_2"] = "maintenance.auto",
        ["GIT_CONFIG_VALUE_2"] = "false",
        // Nothing an agent wrote into the repository runs when we commit, merge or look at its worktree.
        ["GIT_CONFIG_KEY_3"] = "core.hooksPath",
        ["GIT_CONFIG_VALUE_3"] = "/dev/null",
        ["GIT_CONFIG_KEY_4"] = "core.fsmonitor",
        ["GIT_CONFIG_VALUE_4"] = "false",
    });

    private static Dictionary<string, string?> Scrubbed(Dictionary<string, string?> ours)
    {
        foreach (string name in System.Environment.GetEnvironmentVariables().Keys)
        {
            if (!InheritedEnvironment.Contains(name) && !name.StartsWith("LC_", StringComparison.Ordinal))
            {
                ours.TryAdd(name, null); // CliWrap removes a variable set to null
            }
        }

        return ours;
    }

    public string WorkingDirectory => workingDirectory;

    /// <summary>The same repository, run from <paramref name="directory"/> (a linked worktree finds its repository by itself).</summary>
    public Git In(string directory) => new(directory);

    public async Task<GitOutput> RunAsync(IEnumerable<string> arguments, string? input = null, CancellationToken cancellationToken = default)
    {
        var all = (repositoryArguments ?? []).Concat(arguments).ToArray();
        var command = Cli.Wrap("git")
            .WithArguments(all)
            .WithWorkingDirectory(workingDirectory)
            .WithEnvironmentVariables(Environment)
            .WithValidation(CommandResultValidation.None);
        if (input is not null)
        {
            command = command.WithStandardInputPipe(PipeSource.FromString(input));
        }

        BufferedCommandResult result;
        try
        {
            result = await command.ExecuteBufferedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"git could not be started ({e.Message}); install git: every attempt runs in a git worktree of the workspace.", e);
        }

        return new GitOutput(result.ExitCode, result.StandardOutput, result.StandardError, all);
    }

    /// <summary>
    /// Runs git and keeps at most <paramref name="maxChars"/> of its output (the rest is read and dropped, so git never
    /// blocks on a full pipe): for output as large as an agent's change may be. Throws <see cref="GitException"/> when it fails.
    /// </summary>
    public async Task<(string Text, bool Cut)> CheckCappedAsync(IEnumerable<string> arguments, int maxChars, CancellationToken cancellationToken = default)
    {
        var kept = new System.Text.StringBuilder();
        var cut = false;
        var stderr = new System.Text.StringBuilder();
        var all = (repositoryArguments ?? []).Concat(arguments).ToArray();
        var result = await Cli.Wrap("git")
            .WithArguments(all)
            .WithWorkingDirectory(workingDirectory)
            .WithEnvironmentVariables(Environment)
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.Create(async (stream, token) =>
            {
                using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
                var buffer = new char[16 * 1024];
                int read;
                while ((read = await reader.ReadAsync(buffer, token).ConfigureAwait(false)) > 0)
                {
                    var room = maxChars - kept.Length;
                    kept.Append(buffer, 0, Math.Min(room, read));
                    cut |= read > room;
                }
            }))
            .WithStandardErrorPipe(PipeTarget.ToStringBuilder(stderr))
            .ExecuteAsync(cancellationToken).ConfigureAwait(false);
        return result.ExitCode == 0 ? (kept.ToString(), cut) : throw new GitException(new GitOutput(result.ExitCode, "", stderr.ToString(), all));
    }

    /// <summary>Runs git and throws <see cref="GitException"/> with its message when it fails.</summary>
    public async Task<string> CheckAsync(IEnumerable<string> arguments, string? input = null, CancellationToken cancellationToken = default)
    {
        var output = await RunAsync(arguments, input, cancellationToken).ConfigureAwait(false);
        return output.Succeeded ? output.Stdout : throw new GitException(output);
    }
}

public sealed record GitOutput(int ExitCode, string Stdout, string Stderr, IReadOnlyList<string> Arguments)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>A git command that failed; the message has the command and git's own words.</summary>
public sealed class GitException(GitOutput output)
    : Exception($"git {string.Join(' ', output.Arguments)} failed (exit {output.ExitCode}): {output.Stderr.Trim()}")
{
    public GitOutput Output => output;
}
