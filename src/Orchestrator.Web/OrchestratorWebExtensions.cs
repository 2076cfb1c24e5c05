using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.FileProviders;
using OpenTelemetry.Metrics;
using Orchestrator.Core.Telemetry;
using Orchestrator.Grains;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace Orchestrator.Web;

public static class OrchestratorWebExtensions
{
    /// <summary>
    /// The web side of a silo: listening address, API key rule, health checks, metrics and the dashboard's silo part.
    /// Call before <c>AddOrchestratorSilo</c>'s host is built; pass <see cref="ConfigureSilo"/> to it.
    /// </summary>
    public static WebOptions AddOrchestratorWeb(this WebApplicationBuilder builder)
    {
        var web = builder.Configuration.GetSection(WebOptions.SectionName).Get<WebOptions>() ?? new WebOptions();
        if (string.IsNullOrEmpty(web.ApiKey) && !OnlyLoopback(web.Urls))
        {
            throw new InvalidOperationException(
                $"Web:Urls '{web.Urls}' listens beyond 127.0.0.1 without an API key: set Web:ApiKey (Web__ApiKey), or listen on http://127.0.0.1 only.");
        }

        builder.WebHost.UseUrls(web.Urls);
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
        if (!string.IsNullOrEmpty(web.ApiKey))
        {
            app.UseMiddleware<ApiKeyMiddleware>(web.ApiKey);
        }

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

    private static bool OnlyLoopback(string urls) => urls
        .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .All(url => Uri.TryCreate(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var ip) && IPAddress.IsLoopback(ip))));
}
