using System.Runtime.InteropServices;

namespace Orchestrator.Worker;

/// <summary>Keeps a worker's own secrets (its environment, its memory) from the agents it starts under the same user.</summary>
public static partial class ProcessHardening
{
    private const int PrGetDumpable = 3;
    private const int PrSetDumpable = 4;
    private static int _done;

    /// <summary>
    /// Marks this process non-dumpable (Linux <c>prctl(PR_SET_DUMPABLE, 0)</c>): <c>/proc/&lt;pid&gt;/environ</c>,
    /// <c>mem</c> and ptrace are closed to other processes of the same user; root with CAP_SYS_PTRACE still reads
    /// them. Agents are not affected: the flag resets when they exec. True when the process is non-dumpable
    /// afterwards; false where the platform offers no such flag.
    /// </summary>
    public static bool MakeNonDumpable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        if (Interlocked.Exchange(ref _done, 1) == 0)
        {
            _ = prctl(PrSetDumpable, 0, 0, 0, 0);
        }

        return prctl(PrGetDumpable, 0, 0, 0, 0) == 0;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
