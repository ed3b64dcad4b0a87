using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace MedSpa.Tests.Deploy;

/// <summary>
/// The repository's deploy/ files read as an orchestrator reads them: YAML documents (with merge keys and aliases, as
/// docker compose resolves them), the Dockerfile's instructions, the settings tables of the READMEs.
/// </summary>
public static partial class DeployFiles
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Text(params string[] parts) => File.ReadAllText(PathOf(parts));

    /// <summary>Every document of a YAML file, as dictionaries, lists and strings.</summary>
    public static List<Dictionary<object, object>> Yaml(params string[] parts)
    {
        var deserializer = new DeserializerBuilder().Build();
        using var reader = new StringReader(Text(parts));
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (deserializer.Deserialize<object>(parser) is Dictionary<object, object> document)
            {
                documents.Add(document);
            }
        }

        return documents;
    }

    public static Dictionary<object, object> Map(this object? node, string key)
    {
        var map = Assert.IsType<Dictionary<object, object>>(node);
        Assert.True(map.TryGetValue(key, out var value), $"'{key}' missing (has {string.Join(", ", map.Keys)})");
        return Assert.IsType<Dictionary<object, object>>(value);
    }

    public static List<object> List(this object? node, string key)
    {
        var map = Assert.IsType<Dictionary<object, object>>(node);
        Assert.True(map.TryGetValue(key, out var value), $"'{key}' missing (has {string.Join(", ", map.Keys)})");
        return Assert.IsType<List<object>>(value);
    }

    public static string Str(this object? node, string key)
    {
        var map = Assert.IsType<Dictionary<object, object>>(node);
        Assert.True(map.TryGetValue(key, out var value), $"'{key}' missing (has {string.Join(", ", map.Keys)})");
        return Assert.IsType<string>(value);
    }

    public static string? OptionalStr(this object? node, string key) =>
        node is Dictionary<object, object> map && map.TryGetValue(key, out var value) ? value as string : null;

    public static bool Has(this object? node, string key) => node is Dictionary<object, object> map && map.ContainsKey(key);

    /// <summary>Environment variable names of the settings tables (README.md and deploy/README.md), as patterns:
    /// <c>Photos__Keys__&lt;id&gt;</c> stands for any id, <c>GiftCards__Lookup__…</c> for anything under it.</summary>
    public static IReadOnlyList<Regex> SettingsTable()
    {
        var names = new List<Regex>();
        foreach (var file in new[] { PathOf("README.md"), PathOf("deploy", "README.md") })
        {
            foreach (var line in File.ReadLines(file).Where(l => l.StartsWith('|')))
            {
                foreach (Match m in TableName().Matches(line))
                {
                    var pattern = Regex.Escape(m.Groups[1].Value).Replace("<id>", "[A-Za-z0-9_]+").Replace("…", ".*");
                    names.Add(new Regex("^" + pattern + "$", RegexOptions.CultureInvariant));
                }
            }
        }

        return names;
    }

    public static bool InSettingsTable(string name, IReadOnlyList<Regex> table) => table.Any(r => r.IsMatch(name));

    /// <summary>The settings that are secrets: never in an image, a manifest's value or a compose environment block.</summary>
    public static readonly string[] SecretSettings =
    [
        "ConnectionStrings__Postgres", "Auth__SigningKey", "Operator__Key", "GiftCards__CodeKey", "Photos__Keys__local",
        "Payments__Stripe__SecretKey", "Payments__Stripe__WebhookSecret", "Twilio__AuthToken", "Email__SendGrid__ApiKey",
        "Photos__S3__SecretKey", "Auth__MfaEncryptionKey", "Receipts__LinkSigningKey",
    ];

    [GeneratedRegex(@"`([A-Za-z][A-Za-z0-9]*(?:__[A-Za-z0-9<>…]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")]
    private static partial Regex TableName();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedSpa.Orleans.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("MedSpa.Orleans.sln not found above " + AppContext.BaseDirectory);
    }
}
