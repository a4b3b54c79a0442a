using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using EventIngest.Storage;

namespace EventIngest.Tests.Architecture;

/// <summary>
/// Holds the service's dependency graph one-way (docs/architecture.md, map): host composition (the root
/// namespace) → Api / Ingest → the request's workflow (Delivery, Scheduling) → Storage → Ids, with Encryption
/// apart. Every type of the EventIngest assembly is checked against the folders its folder may use: the types in
/// its signatures and base types, and every type, method and field its IL names (so a lambda or an
/// interpolation hole counts too). Constants are compiled into their users and leave no reference, so the
/// <c>using</c> directives of each folder's sources are checked as well.
/// </summary>
public sealed class DependencyTests
{
    /// <summary>What each folder may use besides itself; the root (host composition) may use every folder.</summary>
    public static readonly Dictionary<string, string[]> MayUse = new()
    {
        ["Ids"] = [],
        ["Telemetry"] = [],
        ["Http"] = [],
        ["Auth"] = [],
        ["Storage"] = ["Ids", "Telemetry"],
        ["Encryption"] = ["Storage", "Telemetry"],
        ["Scheduling"] = ["Delivery", "Storage", "Ids", "Telemetry"],
        ["Delivery"] = ["Scheduling", "Storage", "Ids", "Telemetry"],
        ["Ingest"] = ["Delivery", "Scheduling", "Storage", "Encryption", "Auth", "Http", "Ids", "Telemetry"],
        // The REST API reads the event route's options (IngestOptions: Retry-After) and nothing else of Ingest.
        ["Api"] = ["Ingest", "Delivery", "Scheduling", "Storage", "Encryption", "Auth", "Http", "Ids", "Telemetry"],
    };

    /// <summary>The service and the assembly it shares with the consumer kit (storage account, message format, <c>user</c>).</summary>
    private static readonly Assembly[] Service = [typeof(EventStore).Assembly, typeof(StorageAccount).Assembly];

    [Fact]
    public void NoFolderUsesATypeOfAFolderItMayNotUse()
    {
        var violations = TypeDependencies()
            .Where(d => !Allowed(d.From, d.To))
            .Select(d => $"{d.FromType} ({d.From}) uses {d.ToType} ({d.To})")
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(violations.Count == 0, "Forbidden dependencies:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void NoFolderImportsTheNamespaceOfAFolderItMayNotUse()
    {
        var violations = new List<string>();
        foreach (var (root, file) in SourceRoots().SelectMany(root => Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories).Select(file => (root, file))))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (relative.StartsWith("obj/", StringComparison.Ordinal) || relative.StartsWith("bin/", StringComparison.Ordinal)) continue;
            var from = relative.Contains('/', StringComparison.Ordinal) ? relative[..relative.IndexOf('/', StringComparison.Ordinal)] : "";
            foreach (Match m in Regex.Matches(File.ReadAllText(file), @"^using EventIngest\.(\w+)", RegexOptions.Multiline))
            {
                if (!Allowed(from, m.Groups[1].Value)) violations.Add($"{relative} imports EventIngest.{m.Groups[1].Value}");
            }
        }
        Assert.True(violations.Count == 0, "Forbidden imports:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void EveryFolderOfTheServiceHasItsPlaceInTheMap()
    {
        var folders = Service.SelectMany(a => a.GetTypes()).Select(t => FolderOf(t)).OfType<string>().Where(f => f.Length > 0).Distinct();
        Assert.All(folders, f => Assert.True(MayUse.ContainsKey(f), $"{f} is not in the map: say what it may use"));
    }

    /// <summary>The service's public surface is the hosts' entry points (ServiceCollectionExtensions says why);
    /// a type made public by accident fails here.</summary>
    [Fact]
    public void OnlyTheHostsEntryPointsArePublic()
    {
        string[] entryPoints =
        [
            "EventIngest.Api.EventsApi",
            "EventIngest.Api.ScheduledEventsApi",
            "EventIngest.Api.UsersApi",
            "EventIngest.Ingest.EventEndpoint",
            "EventIngest.Jobs",
            "EventIngest.ServiceCollectionExtensions",
        ];
        var exported = typeof(EventStore).Assembly.GetExportedTypes().Select(t => t.FullName!).Order(StringComparer.Ordinal);
        Assert.Equal(entryPoints, exported);
    }

    /// <summary>The scan sees through lambdas and async methods: without it the tests above could pass by seeing nothing.</summary>
    [Fact]
    public void TheScanFindsTheDependenciesThatAreThere()
    {
        var found = TypeDependencies().Select(d => (d.FromType, d.ToType)).ToHashSet();
        Assert.Contains(("EventIngest.Ingest.IngestPipeline", "EventIngest.Storage.EventStore"), found); // a constructor parameter
        Assert.Contains(("EventIngest.Ingest.IngestPipeline", "EventIngest.Storage.RecordWrite"), found); // inside an async method
        Assert.Contains(("EventIngest.Delivery.OutboxRepair", "EventIngest.Scheduling.Scheduler"), found);
        Assert.False(Allowed("Storage", "Ingest"));
        Assert.False(Allowed("Delivery", "Ingest"));
        Assert.False(Allowed("Storage", ""));
    }

    private static bool Allowed(string from, string to) =>
        from == to || from == "" || (MayUse.TryGetValue(from, out var allowed) && allowed.Contains(to));

    /// <summary>The folder of a service type: the namespace part after <c>EventIngest.</c>, first segment only
    /// (Encryption.KeyProviders is Encryption); "" for the root; null for a type that is not the service's.</summary>
    private static string? FolderOf(Type type)
    {
        while (type.IsNested) type = type.DeclaringType!;
        if (!Service.Contains(type.Assembly) || type.Namespace is not { } ns) return null;
        if (ns == "EventIngest") return "";
        if (!ns.StartsWith("EventIngest.", StringComparison.Ordinal)) return null;
        var rest = ns["EventIngest.".Length..];
        return rest.Contains('.', StringComparison.Ordinal) ? rest[..rest.IndexOf('.', StringComparison.Ordinal)] : rest;
    }

    private static IEnumerable<(string From, string FromType, string To, string ToType)> TypeDependencies()
    {
        foreach (var type in Service.SelectMany(a => a.GetTypes()))
        {
            if (FolderOf(type) is not { } from) continue;
            var outer = type;
            while (outer.IsNested) outer = outer.DeclaringType!;
            foreach (var used in Referenced(type).SelectMany(Expand))
            {
                if (FolderOf(used) is not { } to || to == from) continue;
                var usedOuter = used;
                while (usedOuter.IsNested) usedOuter = usedOuter.DeclaringType!;
                yield return (from, outer.FullName!, to, usedOuter.FullName!);
            }
        }
    }

    /// <summary>A type and the types it is made of (generic arguments, element types).</summary>
    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.HasElementType)
        {
            foreach (var t in Expand(type.GetElementType()!)) yield return t;
            yield break;
        }
        if (type.IsGenericParameter) yield break;
        yield return type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        if (type.IsGenericType)
        {
            foreach (var t in type.GetGenericArguments().SelectMany(Expand)) yield return t;
        }
    }

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> Referenced(Type type)
    {
        if (type.BaseType is { } baseType) yield return baseType;
        foreach (var i in type.GetInterfaces()) yield return i;
        foreach (var field in type.GetFields(Declared)) yield return field.FieldType;
        foreach (var property in type.GetProperties(Declared)) yield return property.PropertyType;
        foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (method is MethodInfo info) yield return info.ReturnType;
            foreach (var parameter in method.GetParameters()) yield return parameter.ParameterType;
            foreach (var used in UsedBy(method, type)) yield return used;
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The types, and the declaring types of the methods and fields, that a method's IL names.</summary>
    private static IEnumerable<Type> UsedBy(MethodBase method, Type type)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        var typeArguments = type.IsGenericType ? type.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var at = 0; at < il.Length;)
        {
            short value = il[at++];
            if (value == 0xFE) value = unchecked((short)(0xFE00 | il[at++]));
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineType or OperandType.InlineTok or OperandType.InlineMethod or OperandType.InlineField:
                    var token = BitConverter.ToInt32(il, at);
                    at += 4;
                    MemberInfo? member = null;
                    try
                    {
                        member = method.Module.ResolveMember(token, typeArguments, methodArguments);
                    }
                    catch (ArgumentException)
                    {
                    }
                    if (member is Type t) yield return t;
                    else if (member?.DeclaringType is { } declaring) yield return declaring;
                    if (member is MethodInfo { IsGenericMethod: true } generic)
                    {
                        foreach (var argument in generic.GetGenericArguments()) yield return argument;
                    }
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + 4 * BitConverter.ToInt32(il, at);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                default:
                    at += 4;
                    break;
            }
        }
    }

    private static string[] SourceRoots()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "EventIngest.sln"))) root = root.Parent!;
        return [Path.Combine(root.FullName, "src", "EventIngest"), Path.Combine(root.FullName, "src", "EventIngest.Shared")];
    }
}
