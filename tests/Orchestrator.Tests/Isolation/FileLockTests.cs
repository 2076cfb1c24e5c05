using System.Diagnostics;
using Orchestrator.Worker.Isolation;

namespace Orchestrator.Tests.Isolation;

/// <summary>The workspace locks on a real file system, held by this process and by another one (<c>flock</c>).</summary>
public sealed class FileLockTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("orchestrator-filelock-");

    private string LockPath => Path.Combine(_directory.FullName, "merge.lock");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task Waiters_in_one_process_hold_the_lock_one_at_a_time_and_all_get_it()
    {
        var holders = 0;
        var most = 0;
        async Task HoldAsync()
        {
            using var held = await FileLock.AcquireAsync(LockPath, CancellationToken.None);
            var now = Interlocked.Increment(ref holders);
            InterlockedMax(ref most, now);
            await Task.Yield();
            Interlocked.Decrement(ref holders);
        }

        await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(HoldAsync))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, most);
    }

    [Fact]
    public async Task A_lock_held_through_a_wait_is_refused_to_a_try_in_the_same_process()
    {
        using (await FileLock.AcquireAsync(LockPath, CancellationToken.None))
        {
            Assert.Null(FileLock.TryAcquire(LockPath));
        }

        using var free = FileLock.TryAcquire(LockPath);
        Assert.NotNull(free);
    }

    [Fact]
    public async Task A_waiter_that_gives_up_does_not_hold_up_the_next_one()
    {
        var held = await FileLock.AcquireAsync(LockPath, CancellationToken.None);
        using var giveUp = new CancellationTokenSource();
        var gaveUp = FileLock.AcquireAsync(LockPath, giveUp.Token);
        var next = FileLock.AcquireAsync(LockPath, CancellationToken.None);
        giveUp.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);

        held.Dispose();

        using var taken = await next.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(FileLock.TryAcquire(LockPath));
    }

    [Fact]
    public async Task A_lock_another_process_holds_is_waited_for_until_it_lets_go()
    {
        File.WriteAllText(LockPath, "");
        using var other = Process.Start(new ProcessStartInfo("flock", ["--exclusive", LockPath, "sh", "-c", "echo held; read _"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        })!;
        Assert.Equal("held", await other.StandardOutput.ReadLineAsync());

        var waiting = FileLock.AcquireAsync(LockPath, CancellationToken.None);
        Assert.Null(FileLock.TryAcquire(LockPath));
        Assert.False(waiting.IsCompleted);

        other.StandardInput.Close(); // the other process ends and the kernel lets its lock go
        using var taken = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(other.HasExited || other.WaitForExit(10_000));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen && Interlocked.CompareExchange(ref target, value, seen) is var actual && actual != seen)
        {
            seen = actual;
        }
    }
}
