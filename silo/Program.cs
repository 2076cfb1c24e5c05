using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orchestrator.Hosting;
using Orchestrator.Web;

// A silo: embedded defaults, or Redis with Redis__ConnectionString; its HTTP API, task view, health endpoints and
// dashboard on Web__Urls. Configuration from the appsettings.json next to the program (whatever the working
// directory), environment variables and arguments (see README). Logs, the access-token link among them, go to stderr.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
var web = builder.AddOrchestratorWeb();
builder.AddOrchestratorSilo(configure: web.ConfigureSilo);
var app = builder.Build();
app.MapOrchestratorWeb(web);
await app.RunAsync();
