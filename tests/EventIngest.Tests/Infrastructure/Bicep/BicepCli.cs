using System.Diagnostics;

namespace EventIngest.Tests.Infrastructure.Bicep;

/// <summary>The Bicep CLI that the test project's restore downloads (PackageDownload in the csproj).</summary>
internal static class BicepCli
{
    // Keep in step with the PackageDownload of Azure.Bicep.CommandLine.linux-x64 in EventIngest.Tests.csproj.
    private const string PackageId = "azure.bicep.commandline.linux-x64";
    private const string PackageVersion = "0.49.2";

    private static readonly Lazy<string> Executable = new(Locate);

    public static string Path => Executable.Value;

    /// <param name="environment">Variables to set for the CLI; a null value removes the variable.</param>
    public static ProcessResult Run(string workingDirectory, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
        => ProcessResult.Run(Path, workingDirectory, environment, arguments);

    private static string Locate()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            throw new PlatformNotSupportedException("The template tests run the linux-x64 Bicep CLI; run them on Linux x64 (as CI does).");
        }

        var candidates = GlobalPackagesFolders()
            .Select(root => System.IO.Path.Combine(root, PackageId, PackageVersion, "tools", "bicep"))
            .ToList();
        var bicep = candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                $"Bicep CLI {PackageVersion} not found; `dotnet restore` of the test project downloads it. Looked in: {string.Join(", ", candidates)}");

        // NuGet extraction does not always keep the execute bit.
        var mode = File.GetUnixFileMode(bicep);
        if (!mode.HasFlag(UnixFileMode.UserExecute))
        {
            File.SetUnixFileMode(bicep, mode | UnixFileMode.UserExecute);
        }

        return bicep;
    }

    private static IEnumerable<string> GlobalPackagesFolders()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            yield return fromEnvironment;
        }

        // What NuGet itself resolves, including a globalPackagesFolder set in a NuGet.Config.
        var locals = ProcessResult.Run("dotnet", AppContext.BaseDirectory, null, "nuget", "locals", "global-packages", "--list");
        const string Label = "global-packages:";
        foreach (var line in locals.StandardOutput.Split('\n'))
        {
            var trimmed = line.Trim();
            if (locals.ExitCode == 0 && trimmed.StartsWith(Label, StringComparison.Ordinal))
            {
                yield return trimmed[Label.Length..].Trim();
            }
        }

        yield return System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }
}

public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public string Output => (StandardOutput + StandardError).Trim();

    public static ProcessResult Run(string fileName, string workingDirectory, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                if (value is null)
                {
                    start.Environment.Remove(name);
                }
                else
                {
                    start.Environment[name] = value;
                }
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var standardError = process.StandardError.ReadToEndAsync();
        var standardOutput = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within 2 minutes.");
        }

        return new ProcessResult(process.ExitCode, standardOutput, standardError.GetAwaiter().GetResult());
    }
}
