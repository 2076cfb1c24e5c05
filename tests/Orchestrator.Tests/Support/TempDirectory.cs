namespace Orchestrator.Tests.Support;

/// <summary>A fresh directory under /tmp, removed on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "orchestrator-test")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    /// <summary>Writes an executable bash script and returns the command that runs it.</summary>
    public string Script(string name, string body)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, "#!/usr/bin/env bash\nset -u\n" + body + "\n");
        return $"bash '{path}'";
    }

    /// <summary>
    /// Makes a named pipe: an agent script that reads it waits until the test writes a line, so a test holds an
    /// attempt at a point of its choosing without racing a clock.
    /// </summary>
    public async Task<string> FifoAsync(string name)
    {
        var path = File(name);
        using var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]);
        await mkfifo.WaitForExitAsync();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A killed agent may still be releasing a file; /tmp is cleaned by the system.
        }
    }
}
