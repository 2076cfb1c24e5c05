using Microsoft.AspNetCore.Builder;
using Orchestrator.Hosting;
using Orchestrator.Web;

// A silo: embedded defaults, or Redis with Redis__ConnectionString; its HTTP API, task view, health endpoints and
// dashboard on Web__Urls. Configuration from the appsettings.json next to the program (whatever the working
// directory), environment variables and arguments (see README).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var web = builder.AddOrchestratorWeb();
builder.AddOrchestratorSilo(configure: web.ConfigureSilo);
var app = builder.Build();
app.MapOrchestratorWeb(web);
await app.RunAsync();
