using EventIngest;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddEventIngest(isProductionHost: true);
// The event key is in the request path (/e/{key}); ASP.NET Core's request log prints the path.
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
builder.Build().Run();
