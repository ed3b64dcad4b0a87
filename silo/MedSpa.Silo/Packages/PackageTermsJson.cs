using System.Text.Json;
using System.Text.Json.Serialization;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Silo.Packages;

/// <summary>
/// The one JSON shape of <see cref="PackageTerms"/> in PostgreSQL (<c>package_definitions.terms</c> and every copy a
/// purchase keeps): camelCase, kebab-case enum strings, as the API speaks it. Everything that writes or reads a
/// terms column goes through here, so a definition written by the admin API reads back the same in a sale.
/// </summary>
public static class PackageTermsJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    public static string Write(PackageTerms terms) => JsonSerializer.Serialize(terms, Options);

    public static PackageTerms Read(string json) =>
        JsonSerializer.Deserialize<PackageTerms>(json, Options) ?? throw new JsonException("Package terms are null.");
}
