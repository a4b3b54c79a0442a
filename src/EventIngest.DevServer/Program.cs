using EventIngest.DevServer;

await using var app = await LocalHost.BuildAsync(args);
await app.RunAsync();
