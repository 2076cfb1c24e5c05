using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Grains.Security;
using StackExchange.Redis;

namespace Orchestrator.Hosting.Security;

/// <summary>
/// Where the cluster key comes from: <c>Cluster:Secret</c> when configured (every silo must have the same); else,
/// on Redis, the key <c>orchestrator:cluster-key</c>, created once by the first silo (SET NX) and readable only by the
/// orchestrator's Redis user (workers' ACL users cannot read it); else, for a single in-memory silo, a random key.
/// </summary>
public sealed class ClusterKeyProvider(IOptions<ControlPlaneOptions> options, IServiceProvider services) : IClusterKey
{
    public const string RedisKey = "orchestrator:cluster-key";

    private readonly object _gate = new();
    private Task<byte[]>? _key;

    public ValueTask<byte[]> GetAsync(CancellationToken cancellationToken = default)
    {
        var key = _key;
        if (key is { IsCompletedSuccessfully: true })
        {
            return ValueTask.FromResult(key.Result);
        }

        lock (_gate)
        {
            // A failed read (Redis not there yet) is tried again by the next caller.
            if (_key is null or { IsFaulted: true } or { IsCanceled: true })
            {
                _key = LoadAsync();
            }

            return new ValueTask<byte[]>(_key);
        }
    }

    private async Task<byte[]> LoadAsync()
    {
        if (options.Value.Secret is { Length: > 0 } configured)
        {
            return SHA256.HashData(Encoding.UTF8.GetBytes(configured));
        }

        if (services.GetService<IConnectionMultiplexer>() is { } redis)
        {
            var db = redis.GetDatabase();
            await db.StringSetAsync(RedisKey, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), when: When.NotExists).ConfigureAwait(false);
            var stored = await db.StringGetAsync(RedisKey).ConfigureAwait(false);
            return Convert.FromBase64String(stored.ToString());
        }

        return RandomNumberGenerator.GetBytes(32);
    }
}
