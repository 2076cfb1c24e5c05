using System.Collections.Concurrent;

namespace Orchestrator.Worker.Isolation;

/// <summary>
/// An exclusive lock on a file, held by this process until disposed and released by the kernel when the process
/// dies. On Linux .NET takes it with <c>flock</c>, so it holds across processes and across containers that
/// share the workspace mount.
/// </summary>
public sealed class FileLock : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// This process's waiters for each lock file, queued: one of them at a time tries the file, and the next one goes
    /// on as soon as the lock is let go instead of at its next poll. Only waited-for locks are here (a workspace's
    /// open and merge locks, a handful per process); <see cref="TryAcquire"/> waits for nothing and adds none.
    /// </summary>
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Turns = new(StringComparer.Ordinal);

    private readonly FileStream _stream;
    private readonly SemaphoreSlim? _turn;
    private int _disposed;

    private FileLock(FileStream stream, SemaphoreSlim? turn)
    {
        _stream = stream;
        _turn = turn;
    }

    /// <summary>The lock, or null when it is held (by another process, or by this one).</summary>
    public static FileLock? TryAcquire(string path) => Open(path) is { } stream ? new FileLock(stream, null) : null;

    /// <summary>
    /// Waits for the lock. Waiters of this process queue for their turn; the one whose turn it is polls the file while
    /// another process holds it (kernel locks have no wait with a cancellation token). The turn is given back only by
    /// <see cref="Dispose"/>: hold the lock in a <c>using</c>.
    /// </summary>
    public static async Task<FileLock> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        var turn = Turns.GetOrAdd(Path.GetFullPath(path), _ => new SemaphoreSlim(1, 1));
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                if (Open(path) is { } stream)
                {
                    return new FileLock(stream, turn);
                }

                await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            turn.Release();
            throw;
        }
    }

    private static FileStream? Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stream.Dispose();
            _turn?.Release();
        }
    }
}
