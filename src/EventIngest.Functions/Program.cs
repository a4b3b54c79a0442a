using EventIngest;
using EventIngest.Functions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddEventIngest(isProductionHost: true);
builder.AddEventIngestTelemetry();
builder.Logging.KeepRequestPathsOutOfLogs();
builder.Build().Run();
