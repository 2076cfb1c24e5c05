using Microsoft.Extensions.Hosting;
using Orchestrator.Hosting;

// A silo with the embedded defaults; configuration from appsettings.json and environment variables (see README).
var builder = Host.CreateApplicationBuilder(args);
builder.AddOrchestratorSilo();
await builder.Build().RunAsync();
