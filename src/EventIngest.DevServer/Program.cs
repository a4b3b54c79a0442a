using EventIngest.DevServer;

WebApplication app;
try
{
    app = await LocalHost.BuildAsync(args);
}
catch (OpenModeException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}
await using (app)
{
    await app.RunAsync();
}
return 0;
