using Orchestrator.Redis;
using Orchestrator.Tests.Support;

namespace Orchestrator.Tests.Redis;

/// <summary>How a Redis address is read: users, password files, and the URL handed to a domain's containers.</summary>
public sealed class RedisConnectionTests
{
    [Fact]
    public void A_user_without_a_colon_is_a_user_name_as_redis_py_reads_it()
    {
        var options = RedisConnection.Parse("redis://worker-backend@127.0.0.1:6379/0");

        Assert.Equal("worker-backend", options.User);
        Assert.Null(options.Password);
    }

    [Fact]
    public void The_password_file_gives_the_password_without_its_trailing_newline()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("orchestrator.password"), "s3cret\n");

        var options = RedisConnection.Parse($"redis://orchestrator@127.0.0.1:6379/0?password_file={dir.File("orchestrator.password")}");

        Assert.Equal("orchestrator", options.User);
        Assert.Equal("s3cret", options.Password);
    }

    [Fact]
    public void An_unreadable_password_file_is_named()
    {
        var error = Assert.Throws<ArgumentException>(() => RedisConnection.Parse("redis://orchestrator@127.0.0.1:6379/0?password_file=/nonexistent/pw"));

        Assert.Contains("password_file '/nonexistent/pw', which cannot be read", error.Message);
    }

    [Fact]
    public void An_unknown_url_parameter_is_refused_with_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => RedisConnection.Parse("redis://127.0.0.1:6379/0?sslcert=x"));

        Assert.Contains("'sslcert', which is not known; use ssl_ca_certs or password_file", error.Message);
    }

    [Fact]
    public void A_domain_url_carries_the_domain_users_credentials_and_not_the_silos_password_file()
    {
        var url = RedisConnection.WithCredentials(
            "rediss://orchestrator@127.0.0.1:6380/0?password_file=/run/secrets/redis/orchestrator.password&ssl_ca_certs=/certs/ca.pem",
            "worker-backend", "p@ss:word");

        Assert.Equal("rediss://worker-backend:p%40ss%3Aword@127.0.0.1:6380/0?ssl_ca_certs=%2Fcerts%2Fca.pem", url);
    }
}
