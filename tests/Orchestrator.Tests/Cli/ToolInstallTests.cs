using System.Text.Json.Nodes;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Cli;

/// <summary>
/// The CLI packed as a .NET tool (from the solution's build, as <c>dotnet pack client</c> makes it) and installed with
/// <c>dotnet tool install --tool-path</c> from that folder alone: a nuget.config of its own lists only the pack folder,
/// so nothing is fetched from any other source. Packed and installed once for the class.
/// </summary>
public sealed class InstalledTool : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("orchestrator-tool");

    /// <summary>The installed <c>orchestrator</c> command.</summary>
    public string Command => _dir.File("tools/orchestrator");

    public string PackageVersion { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var separator = Path.DirectorySeparatorChar;
        var configuration = AppContext.BaseDirectory.Contains($"{separator}Release{separator}") ? "Release" : "Debug";
        var pack = _dir.File("pack");
        await RunAsync(_dir.Path, "dotnet", "pack", Path.Combine(BuiltProgram.RepositoryRoot, "client", "Orchestrator.Cli.csproj"),
            "-c", configuration, "--no-build", "-o", pack);
        File.WriteAllText(_dir.File("nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="orchestrator" value="{pack}" />
              </packageSources>
            </configuration>
            """);
        await RunAsync(_dir.Path, "dotnet", "tool", "install", "orchestrator", "--tool-path", _dir.File("tools"), "--add-source", pack, "--ignore-failed-sources");
        PackageVersion = Path.GetFileNameWithoutExtension(Directory.GetFiles(pack, "orchestrator.*.nupkg").Single())["orchestrator.".Length..];
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Runs a program in <paramref name="directory"/>; throws with its output when it fails.</summary>
    public static async Task<string> RunAsync(string directory, string program, params string[] args)
    {
        var (exit, stdout, stderr) = await TryRunAsync(directory, program, args);
        return exit == 0 ? stdout : throw new Xunit.Sdk.XunitException($"{program} {string.Join(' ', args)} exited {exit}:\n{stdout}\n{stderr}");
    }

    public static Task<(int ExitCode, string Stdout, string Stderr)> TryRunAsync(string directory, string program, params string[] args) =>
        CliProcess.RunProgramAsync(program, args, TimeSpan.FromMinutes(4), directory);
}

/// <summary>The installed <c>orchestrator</c> works from any directory: its routing, demo agent and templates travel with it.</summary>
public sealed class ToolInstallTests(InstalledTool tool) : IClassFixture<InstalledTool>
{
    [Fact]
    public async Task The_installed_tool_runs_the_main_job_in_a_directory_outside_the_repository_and_its_files_appear_there()
    {
        using var elsewhere = new TempDirectory("orchestrator-elsewhere");

        var (exit, stdout, stderr) = await InstalledTool.TryRunAsync(elsewhere.Path, tool.Command, "run", "Create user registration with form and API", "--json");

        Assert.True(exit == 0, stdout + stderr);
        var result = JsonNode.Parse(stdout)!;
        Assert.Equal("completed", (string?)result["status"]);
        var created = result["files_created"]!.AsArray().Select(f => (string)f!).ToArray();
        Assert.Equal(["demo/backend", "demo/frontend"], created.Select(f => Path.GetDirectoryName(f)!).Order());
        Assert.All(created, f => Assert.True(File.Exists(Path.Combine(elsewhere.Path, "workspace", f)), f));
    }

    [Fact]
    public async Task The_installed_tool_prints_its_package_version()
    {
        using var elsewhere = new TempDirectory("orchestrator-elsewhere");

        var version = await InstalledTool.RunAsync(elsewhere.Path, tool.Command, "--version");

        Assert.StartsWith(tool.PackageVersion, version.Trim());
    }

    [Fact]
    public async Task The_installed_tool_completes_a_partial_command_through_the_suggest_directive()
    {
        using var elsewhere = new TempDirectory("orchestrator-elsewhere");

        var suggestions = await InstalledTool.RunAsync(elsewhere.Path, tool.Command, "[suggest:15]", "orchestrator di");

        Assert.Equal(["diff"], suggestions.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
