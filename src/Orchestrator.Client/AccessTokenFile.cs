using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Security.Cryptography;

namespace Orchestrator.Client;

/// <summary>
/// The access token a silo requires when no API key is configured, kept in a file only its user can read (as
/// Jupyter keeps its token) so that the CLI, curl and tests on the same machine find it, and several silos on one
/// machine share it.
/// </summary>
public static class AccessTokenFile
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// <c>$ORCHESTRATOR_TOKEN_FILE</c> if set, else <c>$XDG_STATE_HOME/orchestrator/token</c>, else
    /// <c>~/.local/state/orchestrator/token</c>.
    /// </summary>
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable("ORCHESTRATOR_TOKEN_FILE") is { Length: > 0 } file ? file
        : Environment.GetEnvironmentVariable("XDG_STATE_HOME") is { Length: > 0 } state && Path.IsPathRooted(state) ? Path.Combine(state, "orchestrator", "token")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "orchestrator", "token");

    /// <summary>
    /// The token in <paramref name="path"/>, made first if there is none: 32 random bytes, base64url, in a file created
    /// with mode 0600 (its folder 0700). An existing file must be a regular file of this user that no one else may
    /// read or write; anything else is refused, since whoever can read the token controls the orchestrator.
    /// </summary>
    public static string LoadOrCreate(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The access token file relies on Unix file modes; on Windows configure Web:ApiKey instead.");
        }

        path = Path.GetFullPath(path);
        if (!Path.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (TryCreate(path) is { } created)
            {
                return created;
            }
        }

        return Read(path);
    }

    /// <summary>The token in <paramref name="path"/>, or null when there is none (for clients; they never make one).</summary>
    public static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim() is { Length: > 0 } token ? token : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes a new token into a private temporary file and links it into place only if no other silo did so first
    /// (a hard link fails if the path exists): readers never see a half-written token, and parallel
    /// creators never replace each other's. Null when another creator won; its token is then read.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    private static string? TryCreate(string path)
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var file = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerReadWrite }))
        using (var writer = new StreamWriter(file))
        {
            writer.Write(token + "\n");
        }

        try
        {
            // link(2) fails when the path exists, atomically; File.Move without overwrite may check first and rename after.
            if (link(temporary, path) == 0)
            {
                return token;
            }

            var errno = Marshal.GetLastPInvokeError();
            return errno == EExist ? null : throw new IOException($"Cannot write the access token file {path}: errno {errno}.");
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private const int EExist = 17;

    [DllImport("libc", SetLastError = true)]
    private static extern int link(string oldpath, string newpath);

    [UnsupportedOSPlatform("windows")]
    private static string Read(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || !info.Exists)
        {
            throw new InvalidOperationException($"The access token file {path} is not a regular file: remove it and start again to make a new token.");
        }

        if ((info.UnixFileMode & GroupOrOther) != 0)
        {
            throw new InvalidOperationException(
                $"The access token file {path} may be read or written by other users (mode {Convert.ToString((int)info.UnixFileMode, 8)}): run `chmod 600 {path}`, or remove it to make a new token.");
        }

        if (FileOwner.Of(path) is { } owner && owner != FileOwner.Current)
        {
            throw new InvalidOperationException(
                $"The access token file {path} belongs to user id {owner}, not to this user ({FileOwner.Current}): remove it, or point ORCHESTRATOR_TOKEN_FILE / Web:TokenFile to a file of your own.");
        }

        return TryRead(path) ?? throw new InvalidOperationException($"The access token file {path} is empty: remove it and start again to make a new token.");
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The owner of a file, which .NET does not expose: statx(2) on Linux (one struct layout on every architecture).</summary>
    private static class FileOwner
    {
        private const int AtFdCwd = -100;
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxUid = 0x8;

        public static uint Current => geteuid();

        /// <summary>The owner's user id, or null where statx is not available (other Unix systems: only the mode is checked there).</summary>
        public static uint? Of(string path)
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            var buffer = new byte[256]; // sizeof(struct statx)
            if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxUid, buffer) != 0)
            {
                throw new IOException($"Cannot read the owner of {path}: errno {Marshal.GetLastPInvokeError()}.");
            }

            return BitConverter.ToUInt32(buffer, 20); // stx_uid
        }

        [DllImport("libc", SetLastError = true)]
        private static extern uint geteuid();

        [DllImport("libc", SetLastError = true)]
        private static extern int statx(int dirfd, string pathname, int flags, uint mask, byte[] statxbuf);
    }
}
