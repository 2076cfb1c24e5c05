using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>Reads a Redis connection setting in either form users have: <c>redis://[:password@]host:port[/db]</c> or StackExchange's <c>host:port,password=…</c>.</summary>
public static class RedisConnection
{
    /// <summary>The one setting that puts a silo (storage, membership, reminders, transport) and a client (gateway discovery) on Redis.</summary>
    public const string SettingKey = "Redis:ConnectionString";

    public static ConfigurationOptions Parse(string setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            throw new ArgumentException("The Redis connection setting is empty; give redis://host:port or host:port.");
        }

        var text = setting.Trim();
        ConfigurationOptions options;
        if (text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                throw new ArgumentException($"The Redis URL '{Redacted(text)}' is not redis://[:password@]host[:port][/db].");
            }

            options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
            options.EndPoints.Add(uri.Host, uri.Port > 0 ? uri.Port : 6379);
            if (uri.UserInfo.Length > 0)
            {
                var parts = Uri.UnescapeDataString(uri.UserInfo).Split(':', 2);
                options.User = parts.Length == 2 && parts[0].Length > 0 ? parts[0] : null;
                options.Password = parts.Length == 2 ? parts[1] : parts[0];
            }

            var path = uri.AbsolutePath.Trim('/');
            if (path.Length > 0)
            {
                options.DefaultDatabase = int.TryParse(path, out var db) && db >= 0
                    ? db
                    : throw new ArgumentException($"The Redis URL '{Redacted(text)}' names database '{path}', which is not a number.");
            }
        }
        else
        {
            try
            {
                options = ConfigurationOptions.Parse(text);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"The Redis setting '{Redacted(text)}' is neither a redis:// URL nor host:port[,options]: {e.Message}");
            }
        }

        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException($"The Redis setting '{Redacted(text)}' names no host.");
        }

        // Keep retrying in the background instead of failing a silo that starts a moment before Redis does.
        options.AbortOnConnectFail = false;
        return options;
    }

    /// <summary>Connects, with a bounded wait and a clear error naming the endpoint.</summary>
    public static async Task<IConnectionMultiplexer> ConnectAsync(string setting, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var options = Parse(setting);
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + wait;
        while (!multiplexer.IsConnected)
        {
            if (DateTime.UtcNow >= deadline)
            {
                await multiplexer.DisposeAsync().ConfigureAwait(false);
                throw new RedisConnectionException(ConnectionFailureType.UnableToConnect,
                    $"Redis at {string.Join(", ", options.EndPoints)} did not answer within {wait.TotalSeconds:0} s. Is redis-server running there?");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }

        return multiplexer;
    }

    /// <summary>The setting as a <c>redis://</c> URL, the form the reference's containers take in <c>REDIS_URL</c>.</summary>
    public static string ToUrl(string setting)
    {
        var options = Parse(setting);
        var endpoint = options.EndPoints[0].ToString()!.Replace("Unspecified/", "", StringComparison.Ordinal);
        var credentials = options.Password is { Length: > 0 } password
            ? $"{Uri.EscapeDataString(options.User ?? "")}:{Uri.EscapeDataString(password)}@"
            : "";
        return $"{(options.Ssl ? "rediss" : "redis")}://{credentials}{endpoint}/{options.DefaultDatabase ?? 0}";
    }

    /// <summary>The setting with any password replaced, for error messages and logs.</summary>
    public static string Redacted(string setting) =>
        System.Text.RegularExpressions.Regex.Replace(
            System.Text.RegularExpressions.Regex.Replace(setting, @"(?<=://)[^@/]*@", "***@"),
            @"(?i)password=[^,]*", "password=***");
}
