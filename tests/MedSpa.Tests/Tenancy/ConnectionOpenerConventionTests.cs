using System.Text.RegularExpressions;

namespace MedSpa.Tests.Tenancy;

/// <summary>
/// Issue 13 §1: the server opens PostgreSQL connections in one place, the opener that sets the tenant for row-level
/// security (silo/MedSpa.Silo/Data/TenantConnections.cs). A raw open elsewhere would run without a tenant (and see
/// nothing) or, worse, with whichever tenant the pooled connection last carried.
/// </summary>
public sealed partial class ConnectionOpenerConventionTests
{
    // grains/ too: grains reach PostgreSQL only through store interfaces implemented in silo/ (issue 13 §2), and the
    // grains project no longer references Npgsql, so an open there would not even compile; the scan says why.
    private static readonly string[] Scanned = ["api", "silo", "grains"];

    /// <summary>Files that may open a connection themselves, each with its reason.</summary>
    private static readonly Dictionary<string, string> Allowed = new()
    {
        ["silo/MedSpa.Silo/Data/TenantConnections.cs"] = "the opener itself",
        ["silo/MedSpa.Silo/DatabaseMigrator.cs"] = "migrations run as the owner on an unpooled connection holding the migration lock",
        ["silo/MedSpa.Silo/Health/HealthProbes.cs"] = "the readiness probe runs SELECT 1, which reads no table",
    };

    [GeneratedRegex(@"\.OpenConnectionAsync\(|\.OpenConnection\(|new\s+NpgsqlConnection\(|\.CreateCommand\(|\.CreateConnection\(|\.CreateBatch\(")]
    private static partial Regex RawOpen();

    [Fact]
    public void Only_the_opener_opens_connections_in_api_silo_and_grains()
    {
        var offenders = SourceFiles()
            .Where(f => !Allowed.ContainsKey(f.Path))
            .SelectMany(f => f.Lines.Select((line, i) => (f.Path, Line: i + 1, Text: line.Trim())))
            .Where(l => RawOpen().IsMatch(l.Text)
                        && !l.Text.StartsWith("//", StringComparison.Ordinal)
                        && !l.Text.StartsWith("///", StringComparison.Ordinal))
            .Select(l => $"{l.Path}:{l.Line}: {l.Text}")
            .ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void Only_the_opener_sets_the_tenant_of_a_connection()
    {
        // The opener remembers which tenant each backend carries; a set_config elsewhere would make it wrong.
        var offenders = SourceFiles()
            .Where(f => f.Path != "silo/MedSpa.Silo/Data/TenantConnections.cs")
            .SelectMany(f => f.Lines.Select((line, i) => (f.Path, Line: i + 1, Text: line)))
            .Where(l => l.Text.Contains("app.tenant_id", StringComparison.Ordinal) || l.Text.Contains("app.scope", StringComparison.Ordinal)
                        || l.Text.Contains("set_config", StringComparison.OrdinalIgnoreCase))
            .Select(l => $"{l.Path}:{l.Line}: {l.Text.Trim()}")
            .ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void The_scan_finds_the_code_it_guards()
    {
        // Guards the scan: if the paths moved, the tests above would pass on nothing.
        var files = SourceFiles().Select(f => f.Path).ToList();
        Assert.Contains("silo/MedSpa.Silo/Data/TenantConnections.cs", files);
        Assert.Contains(files, f => f.StartsWith("api/Features/", StringComparison.Ordinal));
        Assert.Contains(SourceFiles(), f => f.Lines.Any(l => l.Contains("OpenTenantConnectionAsync(", StringComparison.Ordinal))
                                            && f.Path.StartsWith("api/", StringComparison.Ordinal));
        foreach (var path in Allowed.Keys)
        {
            Assert.Contains(path, files);
        }
    }

    private static IEnumerable<(string Path, string[] Lines)> SourceFiles()
    {
        var root = RepositoryRoot();
        return Scanned
            .SelectMany(dir => Directory.EnumerateFiles(Path.Combine(root, dir), "*.cs", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(p => !p.Contains("/bin/", StringComparison.Ordinal) && !p.Contains("/obj/", StringComparison.Ordinal))
            .Select(p => (p, File.ReadAllLines(Path.Combine(root, p))));
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedSpa.Orleans.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"MedSpa.Orleans.sln not found above {AppContext.BaseDirectory}.");
    }
}
