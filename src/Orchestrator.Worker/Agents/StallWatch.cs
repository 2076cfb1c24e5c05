using System.Security.Cryptography;
using System.Text;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Worker.Agents;

/// <summary>
/// Tells when an agent has stalled: no output line and no change in its worktree for the whole period. Output is
/// seen as it comes (<see cref="Touch"/>); the worktree is checked only once output has been quiet for a check
/// interval (a quarter of the period, at most a minute), with one <c>git status</c> plus a stat of the files it
/// lists — the index makes that cheap, and nothing runs while the agent is talking.
/// </summary>
public sealed class StallWatch(string directory, TimeSpan period, TimeProvider time)
{
    private long _lastActivity = time.GetTimestamp();

    public TimeSpan CheckInterval { get; } = TimeSpan.FromTicks(Math.Clamp(period.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks, TimeSpan.FromMinutes(1).Ticks));

    /// <summary>Output arrived: the agent is alive.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, time.GetTimestamp());

    /// <summary>Completes when the agent has stalled; cancelled with <paramref name="cancellationToken"/> when it ends first.</summary>
    public async Task WaitForStallAsync(CancellationToken cancellationToken)
    {
        var fingerprint = await FingerprintAsync(cancellationToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(CheckInterval, time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            if (time.GetElapsedTime(Volatile.Read(ref _lastActivity)) < CheckInterval)
            {
                continue; // talking: no need to look at its files
            }

            var now = await FingerprintAsync(cancellationToken).ConfigureAwait(false);
            if (now != fingerprint)
            {
                fingerprint = now;
                Touch();
            }

            if (time.GetElapsedTime(Volatile.Read(ref _lastActivity)) >= period)
            {
                return;
            }
        }
    }

    /// <summary>The worktree's changed files with their sizes and times; null when git cannot say (then only output counts).</summary>
    private async Task<string?> FingerprintAsync(CancellationToken cancellationToken)
    {
        GitOutput status;
        try
        {
            status = await new Git(directory).RunAsync(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=no"], cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            return null; // no git on this machine
        }

        if (!status.Succeeded)
        {
            return null;
        }

        var text = new StringBuilder(status.Stdout);
        foreach (var entry in status.Stdout.Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(e => e.Length > 3))
        {
            var file = new FileInfo(Path.Combine(directory, entry[3..]));
            text.Append('\n').Append(file.Exists ? $"{file.Length}:{file.LastWriteTimeUtc.Ticks}" : "-");
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
