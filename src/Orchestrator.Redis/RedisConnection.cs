using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// Reads a Redis connection setting in either form users have: <c>redis[s]://[user:password@]host:port[/db][?query]</c>
/// or StackExchange's <c>host:port,password=…</c>. The URL's query may hold <c>ssl_ca_certs=&lt;PEM&gt;</c> (the CA that
/// signs the server's certificate, as redis-py names it) and <c>password_file=&lt;path&gt;</c> (the password read from a
/// file, so it appears in no environment or command line).
/// </summary>
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
        if (IsUrl(text))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                throw new ArgumentException($"The Redis URL '{Redacted(text)}' is not redis://[:password@]host[:port][/db].");
            }

            options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
            options.EndPoints.Add(uri.Host, uri.Port > 0 ? uri.Port : 6379);
            if (uri.UserInfo.Length > 0)
            {
                // As redis-py reads it: user:password, :password, or a user alone (its password from password_file).
                var parts = uri.UserInfo.Split(':', 2).Select(Uri.UnescapeDataString).ToArray();
                options.User = parts[0].Length > 0 ? parts[0] : null;
                options.Password = parts.Length == 2 ? parts[1] : null;
            }

            var path = uri.AbsolutePath.Trim('/');
            if (path.Length > 0)
            {
                options.DefaultDatabase = int.TryParse(path, out var db) && db >= 0
                    ? db
                    : throw new ArgumentException($"The Redis URL '{Redacted(text)}' names database '{path}', which is not a number.");
            }

            ApplyQuery(options, uri, text);
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
        // Replies are completed on the shared thread pool rather than on the client's own dedicated threads: on a
        // machine of two cores those threads only fight the pool's for the CPU.
        options.SocketManager = SocketManager.ThreadPool;
        return options;
    }

    private static void ApplyQuery(ConfigurationOptions options, Uri uri, string text)
    {
        foreach (var (name, value) in Query(uri))
        {
            switch (name)
            {
                case CertificateAuthorityParameter:
                    options.TrustIssuer(LoadAuthority(value, text));
                    break;
                case PasswordFileParameter:
                    options.Password = ReadPasswordFile(value, text);
                    break;
                default:
                    throw new ArgumentException($"The Redis URL '{Redacted(text)}' has the parameter '{name}', which is not known; use {CertificateAuthorityParameter} or {PasswordFileParameter}.");
            }
        }
    }

    /// <summary>The query parameter naming the PEM of a private CA that signs the server's TLS certificate (redis-py's name for it).</summary>
    public const string CertificateAuthorityParameter = "ssl_ca_certs";

    /// <summary>The query parameter naming a file that holds the password.</summary>
    public const string PasswordFileParameter = "password_file";

    private static IEnumerable<(string Name, string Value)> Query(Uri uri) => uri.Query.TrimStart('?')
        .Split('&', StringSplitOptions.RemoveEmptyEntries)
        .Select(pair => pair.Split('=', 2))
        .Select(pair => (Uri.UnescapeDataString(pair[0]), pair.Length == 2 ? Uri.UnescapeDataString(pair[1]) : ""));

    private static X509Certificate2 LoadAuthority(string path, string text)
    {
        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"The Redis URL '{Redacted(text)}' trusts {CertificateAuthorityParameter} '{path}', which is not a readable PEM certificate: {e.Message}", e);
        }
    }

    private static string ReadPasswordFile(string path, string text)
    {
        try
        {
            // One line; the newline an editor or `echo` leaves is not part of the password.
            return File.ReadAllText(path).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"The Redis URL '{Redacted(text)}' reads its password from {PasswordFileParameter} '{path}', which cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// A <c>redis[s]://</c> URL for <paramref name="setting"/>'s server with <paramref name="user"/>'s credentials in
    /// place of its own: no <c>password_file</c> of this process, the same database and <c>ssl_ca_certs</c>.
    /// </summary>
    public static string WithCredentials(string setting, string user, string password)
    {
        var url = new UriBuilder(ToUrl(setting))
        {
            UserName = Uri.EscapeDataString(user),
            Password = Uri.EscapeDataString(password),
        };
        url.Query = string.Join('&', Query(url.Uri)
            .Where(p => p.Name != PasswordFileParameter)
            .Select(p => $"{Uri.EscapeDataString(p.Name)}={Uri.EscapeDataString(p.Value)}"));
        return url.Uri.AbsoluteUri;
    }

    /// <summary>The <c>ssl_ca_certs</c> file a URL setting trusts, if any (domain containers need it mounted).</summary>
    public static string? CertificateAuthorityOf(string setting) =>
        IsUrl(setting) && Uri.TryCreate(setting.Trim(), UriKind.Absolute, out var uri)
            ? Query(uri).Where(p => p.Name == CertificateAuthorityParameter).Select(p => p.Value).FirstOrDefault()
            : null;

    private static bool IsUrl(string text) =>
        text.TrimStart().StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith("rediss://", StringComparison.OrdinalIgnoreCase);

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
        if (IsUrl(setting))
        {
            // Already one: keep its query (CA, password file) as given.
            return setting.Trim();
        }

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
