namespace Orchestrator.Tests.Support;

/// <summary>The ACL file and password files <c>docker/make-redis-acl.sh</c> makes, in a temporary directory.</summary>
public sealed class RedisAcl : IDisposable
{
    private readonly TempDirectory _dir;

    private RedisAcl(TempDirectory dir) => _dir = dir;

    public string Directory => _dir.Path;

    public string File => _dir.File("users.acl");

    public string PasswordFile(string user) => _dir.File($"{user}.password");

    public string Password(string user) => System.IO.File.ReadAllText(PasswordFile(user));

    public static async Task<RedisAcl> MakeAsync(params string[] domains)
    {
        var dir = new TempDirectory("redis-acl");
        var (exitCode, output) = await Script.RunAsync("make-redis-acl.sh", [dir.Path, .. domains]);
        if (exitCode != 0)
        {
            dir.Dispose();
            throw new InvalidOperationException($"docker/make-redis-acl.sh failed: {output}");
        }

        return new RedisAcl(dir);
    }

    public void Dispose() => _dir.Dispose();
}
