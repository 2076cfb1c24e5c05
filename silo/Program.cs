using Microsoft.Extensions.Hosting;
using Orchestrator.Hosting;

// A silo: embedded defaults, or Redis with Redis__ConnectionString. Configuration from the appsettings.json next to
// the program (whatever the working directory), environment variables and arguments (see README).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddOrchestratorSilo();
await builder.Build().RunAsync();
