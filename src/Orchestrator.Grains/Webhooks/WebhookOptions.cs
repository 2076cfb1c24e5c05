using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Contracts;
using Orchestrator.Core.Webhooks;

namespace Orchestrator.Grains.Webhooks;

/// <summary>Signed webhooks on a task's final state, bound from the <c>Webhooks</c> configuration section.</summary>
public sealed class WebhookOptions
{
    public const string SectionName = "Webhooks";

    /// <summary>The shortest secret accepted: an HMAC key anyone can guess signs nothing.</summary>
    public const int MinSecretLength = 16;

    /// <summary>Where tasks that name no URL of their own are reported; none by default.</summary>
    public string? DefaultUrl { get; set; }

    /// <summary>The HMAC key as text (<c>Webhooks__Secret</c>); never logged, never stored with a task, never given to agents.</summary>
    public string? Secret { get; set; }

    /// <summary>A file holding the secret (surrounding whitespace ignored), for secrets mounted as files; used when <see cref="Secret"/> is not set.</summary>
    public string? SecretFile { get; set; }

    /// <summary>Lets webhooks go to loopback and private addresses (a receiver on the same host or network). Link-local and metadata addresses stay refused.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Attempts and backoff of one delivery (attempts in all, the first included).</summary>
    public RetryPolicyOptions Retry { get; set; } = new() { MaxAttempts = 8, InitialBackoff = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromMinutes(5) };

    /// <summary>A delivery is given up this long after it was created, whatever attempts remain.</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long one attempt may take, connection included.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The secret's bytes (UTF-8), from <see cref="Secret"/> or <see cref="SecretFile"/>; null when neither is set.</summary>
    public byte[]? ReadSecret()
    {
        var text = !string.IsNullOrEmpty(Secret) ? Secret
            : !string.IsNullOrEmpty(SecretFile) ? File.ReadAllText(SecretFile).Trim()
            : null;
        return text is null ? null : Encoding.UTF8.GetBytes(text);
    }
}

/// <summary>The webhook secret, read once at start (validated then); null when none is configured.</summary>
public sealed class WebhookSecret(IOptions<WebhookOptions> options)
{
    private readonly Lazy<byte[]?> _key = new(options.Value.ReadSecret);

    public byte[]? Key => _key.Value;
}

/// <summary>Refuses a silo start with webhook settings that cannot work, naming the setting (never the secret).</summary>
public sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var errors = new List<string>();
        byte[]? secret = null;
        try
        {
            secret = options.ReadSecret();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add($"Webhooks:SecretFile '{options.SecretFile}' cannot be read ({e.GetType().Name}): give a readable file that holds the webhook secret.");
        }

        if (secret is not null && secret.Length < WebhookOptions.MinSecretLength)
        {
            errors.Add($"The webhook secret (Webhooks:Secret or Webhooks:SecretFile) is shorter than {WebhookOptions.MinSecretLength} bytes: use a long random value, e.g. `openssl rand -hex 32`.");
        }

        if (!string.IsNullOrWhiteSpace(options.DefaultUrl))
        {
            try
            {
                WebhookAddress.CheckHost(WebhookAddress.Parse(options.DefaultUrl), options.AllowPrivateNetworks);
                if (secret is null && errors.Count == 0)
                {
                    errors.Add("Webhooks:DefaultUrl is set but no webhook secret is: set Webhooks:Secret or Webhooks:SecretFile (webhooks are never sent unsigned).");
                }
            }
            catch (InvalidTaskRequestException e)
            {
                errors.Add($"Webhooks:DefaultUrl: {e.Message}");
            }
        }

        if (options.Retry.MaxAttempts < 1)
        {
            errors.Add($"Webhooks:Retry:MaxAttempts is {options.Retry.MaxAttempts}: give at least 1.");
        }

        if (options.MaxDuration <= TimeSpan.Zero || options.AttemptTimeout <= TimeSpan.Zero || options.Retry.InitialBackoff < TimeSpan.Zero)
        {
            errors.Add("Webhooks:MaxDuration and Webhooks:AttemptTimeout must be positive, and Webhooks:Retry:InitialBackoff not negative.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
