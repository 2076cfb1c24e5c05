using Microsoft.Extensions.Logging.Abstractions;
using Orchestrator.Core.Protocol;
using Orchestrator.Tests.Support;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Tests.Isolation;

/// <summary>Attempts in their own worktrees of a real repository (or a workspace that is none), with real files and real git.</summary>
public sealed class WorktreeIsolationTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string Workspace => _dir.File("workspace");

    public void Dispose() => _dir.Dispose();

    private async Task PrepareAsync(bool git, params (string Path, string Content)[] files)
    {
        if (git)
        {
            await GitRepository.InitAsync(Workspace, files);
            return;
        }

        Directory.CreateDirectory(Workspace);
        foreach (var (path, content) in files)
        {
            File.WriteAllText(Path.Combine(Workspace, path), content);
        }
    }

    private WorktreeIsolation Isolation(string domain, MergeMode mode = MergeMode.Merge, string? template = null) => new(
        new IsolationOptions { Workspace = Workspace, DomainType = domain, Mode = mode, TemplateDirectory = template },
        NullLogger<WorktreeIsolation>.Instance);

    private static TaskMessage Message(string parentTaskId, string? baseCommit = null) => new()
    {
        TaskId = Guid.NewGuid().ToString(),
        ParentTaskId = parentTaskId,
        Destination = "any",
        Description = "Create user registration with form and API",
        BaseCommit = baseCommit,
    };

    private static async Task<AttemptReport> RunAsync(IIsolatedAttempt attempt, string agentId, params (string Path, string Content)[] writes)
    {
        await using (attempt)
        {
            foreach (var (path, content) in writes)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(attempt.Directory, path))!);
                await File.WriteAllTextAsync(Path.Combine(attempt.Directory, path), content);
            }

            return await attempt.FinishAsync(completed: true, agentId, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_domains_running_side_by_side_each_report_only_their_own_files_and_both_land(bool gitWorkspace)
    {
        await PrepareAsync(gitWorkspace, ("existing.txt", "kept\n"));
        var task = Guid.NewGuid().ToString();
        // Both worktrees exist before either finishes: what one writes is never in the other's view.
        var backend = await Isolation("backend").BeginAsync(Message(task), CancellationToken.None);
        var frontend = await Isolation("frontend").BeginAsync(Message(task), CancellationToken.None);

        var reports = await Task.WhenAll(
            RunAsync(backend, "backend-a1", ("api/users.py", "def register(): ...\n")),
            RunAsync(frontend, "frontend-b2", ("web/Register.tsx", "export const Register = () => null;\n")));

        Assert.Equal(["api/users.py"], reports[0].Files.Created);
        Assert.Equal(["web/Register.tsx"], reports[1].Files.Created);
        Assert.All(reports, r => Assert.Equal("merged", r.Merge));
        Assert.True(File.Exists(Path.Combine(Workspace, "api", "users.py")));
        Assert.True(File.Exists(Path.Combine(Workspace, "web", "Register.tsx")));
        Assert.Equal(gitWorkspace, Path.Exists(Path.Combine(Workspace, ".git"))); // a plain folder stays one
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_domains_rewriting_one_file_merge_the_first_and_report_the_second_as_a_conflict_keeping_both_versions(bool gitWorkspace)
    {
        await PrepareAsync(gitWorkspace, ("config.json", "{ \"port\": 80 }\n"));
        var task = Guid.NewGuid().ToString();
        var backend = await Isolation("backend").BeginAsync(Message(task), CancellationToken.None);
        var frontend = await Isolation("frontend").BeginAsync(Message(task), CancellationToken.None);

        var first = await RunAsync(backend, "backend-a1", ("config.json", "{ \"port\": 8080 }\n"));
        var second = await RunAsync(frontend, "frontend-b2", ("config.json", "{ \"port\": 3000 }\n"));

        Assert.Equal("merged", first.Merge);
        Assert.Equal("conflict", second.Merge);
        Assert.Equal(["config.json"], second.Conflicts);
        Assert.Equal(["config.json"], second.Files.Modified);
        Assert.Equal("{ \"port\": 8080 }\n", File.ReadAllText(Path.Combine(Workspace, "config.json")));
        var git = gitWorkspace ? new Git(Workspace) : new Git(Workspace, [$"--git-dir={Path.Combine(Workspace, ".orchestrator", "repo")}", $"--work-tree={Workspace}"]);
        Assert.Equal("{ \"port\": 3000 }\n", await git.CheckAsync(["show", $"{second.Branch}:config.json"]));
        Assert.Empty(await git.CheckAsync(["status", "--porcelain"])); // the aborted merge left nothing behind
    }

    [Fact]
    public async Task In_a_plain_folder_an_edit_made_while_an_agent_works_is_recorded_and_weighed_by_the_merge()
    {
        await PrepareAsync(git: false, ("config.json", "{ \"port\": 80 }\n"));
        var attempt = await Isolation("backend").BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None);
        // Meanwhile the user edits the workspace itself: one new file, and the file the agent is about to change.
        File.WriteAllText(Path.Combine(Workspace, "notes.txt"), "mine\n");
        File.WriteAllText(Path.Combine(Workspace, "config.json"), "{ \"port\": 81 }\n");

        var report = await RunAsync(attempt, "backend-a1", ("config.json", "{ \"port\": 8080 }\n"), ("api.py", "x = 1\n"));

        Assert.Equal("conflict", report.Merge); // the user's edit is not overwritten
        Assert.Equal(["config.json"], report.Conflicts);
        Assert.Equal("{ \"port\": 81 }\n", File.ReadAllText(Path.Combine(Workspace, "config.json")));
        Assert.Equal("mine\n", File.ReadAllText(Path.Combine(Workspace, "notes.txt")));
        var git = new Git(Workspace, [$"--git-dir={Path.Combine(Workspace, ".orchestrator", "repo")}", $"--work-tree={Workspace}"]);
        Assert.Equal("mine\n", await git.CheckAsync(["show", "HEAD:notes.txt"])); // recorded before the merge was tried
    }

    [Fact]
    public async Task In_a_plain_folder_an_attempt_with_nothing_changed_meanwhile_merges_without_a_record_of_its_own()
    {
        await PrepareAsync(git: false, ("existing.txt", "kept\n"));
        var git = new Git(Workspace, [$"--git-dir={Path.Combine(Workspace, ".orchestrator", "repo")}", $"--work-tree={Workspace}"]);

        var report = await RunAsync(await Isolation("backend").BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None), "backend-a1", ("api.py", "x = 1\n"));

        Assert.Equal("merged", report.Merge);
        var subjects = (await git.CheckAsync(["log", "--format=%s"])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(subjects, s => s == "The workspace as the orchestrator found it"); // once, before the attempt; not again before its merge
    }

    [Fact]
    public async Task In_a_plain_folder_a_nested_repositorys_own_edits_add_no_empty_records()
    {
        await PrepareAsync(git: false, ("existing.txt", "kept\n"));
        await GitRepository.InitAsync(Path.Combine(Workspace, "vendor", "lib"), ("lib.txt", "v1\n"));
        var git = new Git(Workspace, [$"--git-dir={Path.Combine(Workspace, ".orchestrator", "repo")}", $"--work-tree={Workspace}"]);
        await RunAsync(await Isolation("backend").BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None), "backend-a1", ("a.py", "x = 1\n"));
        // Edited inside the nested repository and not committed there: the workspace's status lists it, add -A stages nothing.
        File.WriteAllText(Path.Combine(Workspace, "vendor", "lib", "lib.txt"), "v2, not committed\n");

        var report = await RunAsync(await Isolation("backend").BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None), "backend-a2", ("b.py", "y = 2\n"));

        Assert.Equal("merged", report.Merge);
        var subjects = (await git.CheckAsync(["log", "--format=%s"])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1, subjects.Count(s => s == "The workspace as the orchestrator found it")); // the first record only
    }

    [Fact]
    public async Task The_sweep_deletes_merged_attempt_branches_past_their_keep_period_and_keeps_unmerged_ones()
    {
        await PrepareAsync(git: true);
        // An old commit at HEAD: attempt branches pointing at it are merged and past a keep period of zero.
        await OldCommitAsync("An old change");
        for (var i = 1; i <= 150; i++)
        {
            await GitRepository.RunAsync(Workspace, "branch", $"orchestrator/0ld7a5k/backend-{i}");
        }

        await GitRepository.RunAsync(Workspace, "checkout", "-q", "-b", "orchestrator/0ld7a5k/frontend-1");
        await OldCommitAsync("Work no one merged");
        await GitRepository.RunAsync(Workspace, "checkout", "-q", "main");

        await Isolation("backend").SweepLeftoversAsync(CancellationToken.None);

        var left = (await GitRepository.RunAsync(Workspace, "for-each-ref", "--format=%(refname:short)", "refs/heads/orchestrator/")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["orchestrator/0ld7a5k/frontend-1"], left);
    }

    private async Task OldCommitAsync(string message)
    {
        File.AppendAllText(Path.Combine(Workspace, "history.txt"), message + "\n");
        await GitRepository.RunAsync(Workspace, "add", "-A");
        var commit = new System.Diagnostics.ProcessStartInfo("git", ["-C", Workspace, "commit", "-q", "-m", message]);
        commit.Environment["GIT_COMMITTER_DATE"] = "2020-01-01T00:00:00Z";
        using var process = System.Diagnostics.Process.Start(commit)!;
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task Changes_to_different_parts_of_one_file_are_both_kept()
    {
        await PrepareAsync(true, ("notes.md", "top\n\n\n\n\n\n\nbottom\n"));
        var task = Guid.NewGuid().ToString();
        var backend = await Isolation("backend").BeginAsync(Message(task), CancellationToken.None);
        var frontend = await Isolation("frontend").BeginAsync(Message(task), CancellationToken.None);

        await RunAsync(backend, "backend-a1", ("notes.md", "top (backend)\n\n\n\n\n\n\nbottom\n"));
        var second = await RunAsync(frontend, "frontend-b2", ("notes.md", "top\n\n\n\n\n\n\nbottom (frontend)\n"));

        Assert.Equal("merged", second.Merge);
        Assert.Equal("top (backend)\n\n\n\n\n\n\nbottom (frontend)\n", File.ReadAllText(Path.Combine(Workspace, "notes.md")));
    }

    [Fact]
    public async Task Branch_mode_leaves_the_work_on_its_branch_and_the_workspace_untouched()
    {
        await PrepareAsync(true);

        var report = await RunAsync(await Isolation("backend", MergeMode.Branch).BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None),
            "backend-a1", ("api.py", "x\n"));

        Assert.Equal("branch", report.Merge);
        Assert.False(File.Exists(Path.Combine(Workspace, "api.py")));
        Assert.Equal("x\n", await GitRepository.RunAsync(Workspace, "show", $"{report.Branch}:api.py"));
    }

    [Fact]
    public async Task The_commit_is_authored_by_the_agent_names_the_task_and_merged_branches_are_gone()
    {
        await PrepareAsync(true);
        var message = Message(Guid.NewGuid().ToString());

        var report = await RunAsync(await Isolation("backend").BeginAsync(message, CancellationToken.None), "backend-a1", ("api.py", "x\n"));

        var log = await GitRepository.RunAsync(Workspace, "log", "-1", "--format=%an|%B", report.Commit!);
        Assert.StartsWith("backend-a1|Create user registration with form and API", log);
        Assert.Contains(message.TaskId, log);
        Assert.Empty(await GitRepository.RunAsync(Workspace, "branch", "--list", "orchestrator/*"));
        Assert.Null(report.Branch);
    }

    [Fact]
    public async Task An_attempt_starts_from_the_tasks_base_commit_even_when_the_workspace_moved_on()
    {
        await PrepareAsync(true);
        var baseCommit = (await GitRepository.RunAsync(Workspace, "rev-parse", "HEAD")).Trim();
        File.WriteAllText(Path.Combine(Workspace, "later.txt"), "committed after the task was accepted\n");
        await GitRepository.RunAsync(Workspace, "add", "later.txt");
        await GitRepository.RunAsync(Workspace, "commit", "-q", "-m", "Later");

        await using var attempt = await Isolation("backend").BeginAsync(Message(Guid.NewGuid().ToString(), baseCommit), CancellationToken.None);

        Assert.False(File.Exists(Path.Combine(attempt.Directory, "later.txt")));
        Assert.True(File.Exists(Path.Combine(attempt.Directory, "README.md")));
    }

    [Fact]
    public async Task The_template_wins_in_the_worktree_and_never_reaches_the_commit()
    {
        await PrepareAsync(true, ("CLAUDE.md", "the repository's own\n"));
        var template = _dir.File("template");
        Directory.CreateDirectory(Path.Combine(template, ".claude", "agents"));
        File.WriteAllText(Path.Combine(template, "CLAUDE.md"), "backend template\n");
        File.WriteAllText(Path.Combine(template, ".claude", "agents", "api-worker.md"), "api\n");
        await using var attempt = await Isolation("backend", template: template).BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None);

        Assert.Equal("backend template\n", File.ReadAllText(Path.Combine(attempt.Directory, "CLAUDE.md")));
        var report = await attempt.FinishAsync(true, "backend-a1", CancellationToken.None);

        Assert.Equal("no_changes", report.Merge);
        Assert.Equal("the repository's own\n", File.ReadAllText(Path.Combine(Workspace, "CLAUDE.md")));
    }

    [Fact]
    public async Task The_sweep_removes_worktrees_whose_worker_died_and_leaves_running_ones()
    {
        await PrepareAsync(true);
        var worktrees = Path.Combine(Workspace, ".orchestrator", "worktrees");
        Directory.CreateDirectory(worktrees);
        // What a worker killed mid-attempt leaves: a locked worktree, its branch, and a lock file no process holds.
        await GitRepository.RunAsync(Workspace, "worktree", "add", "--lock", "-q", "-b", "orchestrator/dead0000/backend-1", Path.Combine(worktrees, "dead0000-backend-1"), "HEAD");
        File.WriteAllText(Path.Combine(worktrees, "dead0000-backend-1.lock"), "");
        await using var running = await Isolation("frontend").BeginAsync(Message(Guid.NewGuid().ToString()), CancellationToken.None);

        await Isolation("backend").SweepLeftoversAsync(CancellationToken.None);

        Assert.False(Directory.Exists(Path.Combine(worktrees, "dead0000-backend-1")));
        Assert.True(Directory.Exists(running.Directory));
        var listed = await GitRepository.RunAsync(Workspace, "worktree", "list", "--porcelain");
        Assert.DoesNotContain("dead0000", listed);
        Assert.Contains(running.Directory, listed);
    }
}
