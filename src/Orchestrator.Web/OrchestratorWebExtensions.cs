using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.FileProviders;
using OpenTelemetry.Metrics;
using Orchestrator.Client;
using Orchestrator.Core.Telemetry;
using Orchestrator.Grains;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace Orchestrator.Web;

public static class OrchestratorWebExtensions
{
    /// <summary>
    /// The web side of a silo: listening address, the secret callers must present (the configured API key, or else the
    /// access token from the token file, registered as <see cref="AccessToken"/>), limits, health checks, metrics and
    /// the dashboard's silo part. Call before <c>AddOrchestratorSilo</c>'s host is built; pass <see cref="ConfigureSilo"/> to it.
    /// </summary>
    public static WebOptions AddOrchestratorWeb(this WebApplicationBuilder builder)
    {
        var web = builder.Configuration.GetSection(WebOptions.SectionName).Get<WebOptions>() ?? new WebOptions();
        var configuredKey = !string.IsNullOrEmpty(web.ApiKey);
        if (!configuredKey && !web.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).All(ServingCheck.IsLoopback))
        {
            throw new InvalidOperationException(
                $"Web:Urls '{web.Urls}' listens beyond 127.0.0.1 without an API key: set Web:ApiKey (Web__ApiKey), or listen on http://127.0.0.1 only.");
        }

        builder.Services.AddSingleton(web);
        builder.Services.AddSingleton(configuredKey
            ? new AccessToken(web.ApiKey!, Generated: false)
            : new AccessToken(AccessTokenFile.LoadOrCreate(web.TokenFile ?? AccessTokenFile.DefaultPath), Generated: true));
        builder.WebHost.UseUrls(web.Urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = web.Limits.MaxRequestBodyBytes);
        builder.Services.AddOrchestratorLimits(web.Limits);
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks().AddCheck<ReadinessCheck>("ready", tags: ["ready"]);
        if (web.Metrics)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(OrchestratorMetrics.MeterName).AddPrometheusExporter());
        }

        // Traces go to an OTLP collector when the standard OpenTelemetry variable names one.
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(OrchestratorTelemetry.SourceName).AddOtlpExporter());
        }

        return web;
    }

    /// <summary>The silo side of the dashboard (its grain service and statistics), when the dashboard is on.</summary>
    public static void ConfigureSilo(this WebOptions web, ISiloBuilder silo)
    {
        if (web.Dashboard)
        {
            silo.AddDashboard();
        }
    }

    public static void MapOrchestratorWeb(this WebApplication app, WebOptions web)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<BrowserBoundaryMiddleware>();
        app.UseMiddleware<AccessMiddleware>();
        app.UseRateLimiter();
        app.CheckWhenStarted(web);
        var pages = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = pages });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = pages });
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = async (context, report) =>
            {
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync(report.Status == HealthStatus.Healthy
                    ? "Healthy"
                    : $"{report.Status}: {string.Join("; ", report.Entries.Values.Select(e => e.Description))}");
            },
        });
        app.MapTaskApi();
        if (web.Dashboard)
        {
            app.MapOrleansDashboard("/dashboard");
        }

        if (web.Metrics)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
        }
    }
}
