using ConsumerFunctions;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.Services.AddEventIngestConsumer();
builder.Services.AddSingleton<Receipts>();
builder.Build().Run();
