namespace Orchestrator.Worker.Isolation;

/// <summary>
/// An exclusive lock on a file, held by this process until disposed and released by the kernel when the process
/// dies. On Linux .NET takes it with <c>flock</c>, so it holds across processes and across containers that
/// share the workspace mount.
/// </summary>
public sealed class FileLock : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);
    private readonly FileStream _stream;

    private FileLock(FileStream stream) => _stream = stream;

    /// <summary>The lock, or null when another process holds it.</summary>
    public static FileLock? TryAcquire(string path)
    {
        try
        {
            return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
        }
        catch (IOException) when (File.Exists(path))
        {
            return null;
        }
    }

    /// <summary>Waits for the lock (kernel locks have no wait with a cancellation token, so this polls).</summary>
    public static async Task<FileLock> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryAcquire(path) is { } acquired)
            {
                return acquired;
            }

            await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _stream.Dispose();
}
