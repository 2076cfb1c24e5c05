using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Orchestrator.Web;

/// <summary>
/// The per-credential limits of <see cref="WebLimitsOptions"/> as ASP.NET Core rate-limiter policies: submissions per
/// minute (a fixed window) and open event streams (a concurrency limit held for as long as a stream is open). Kestrel
/// enforces the body size itself (see <c>AddOrchestratorWeb</c>).
/// </summary>
public static class WebLimits
{
    public const string Submissions = "submissions";
    public const string EventStreams = "event-streams";

    public static IServiceCollection AddOrchestratorLimits(this IServiceCollection services, WebLimitsOptions limits) => services.AddRateLimiter(options =>
    {
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.AddPolicy(Submissions, context => RateLimitPartition.GetFixedWindowLimiter(Credential(context), _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = limits.SubmissionsPerMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));
        options.AddPolicy(EventStreams, context => RateLimitPartition.GetConcurrencyLimiter(Credential(context), _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = limits.EventStreamsPerCredential,
            QueueLimit = 0,
        }));
        options.OnRejected = async (rejected, _) =>
        {
            var context = rejected.HttpContext;
            if (rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
            }

            var policy = context.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName;
            await Problem.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests", policy == EventStreams
                ? $"This credential already holds {limits.EventStreamsPerCredential} event streams open (Web:Limits:EventStreamsPerCredential): close one first."
                : $"This credential made {limits.SubmissionsPerMinute} submissions within a minute (Web:Limits:SubmissionsPerMinute): "
                  + $"wait {context.Response.Headers.RetryAfter} s (Retry-After) and submit again.");
        };
    });

    /// <summary>Set by <see cref="AccessMiddleware"/>, which runs first: every limited endpoint needs a credential.</summary>
    private static string Credential(HttpContext context) => context.Items[AccessMiddleware.CredentialItem] as string ?? "";
}
