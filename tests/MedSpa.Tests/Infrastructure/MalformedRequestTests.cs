using System.Collections;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MedSpa.Tests.Infrastructure;

/// <summary>
/// Every POST, PATCH and PUT route the server maps (read from its endpoint data source, so a new route is covered
/// without editing this test) gets malformed bodies: broken JSON, wrong shapes, and a plausible body with one field
/// at a time replaced by an edge value (empty, huge, negative, far dates, unknown ids, nulls in arrays, deep
/// nesting). None may answer 5xx: bad input is the caller's 4xx.
/// </summary>
public sealed class MalformedRequestTests(MedSpaApiFactory factory, ITestOutputHelper output) : IClassFixture<MedSpaApiFactory>
{
    private static readonly string[] WriteMethods = ["POST", "PATCH", "PUT"];

    [Fact]
    public async Task No_malformed_body_on_any_write_route_answers_5xx()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking());
        var routes = WriteRoutes();
        Assert.True(routes.Count > 40, $"Only {routes.Count} write routes found: the endpoint data source was not read.");

        var failures = new List<string>();
        var statuses = new SortedDictionary<int, int>();
        var sent = 0;
        foreach (var (method, template, bodyType) in routes)
        {
            // A fresh owner per route: a route that signs out or revokes sessions must not blind the next ones.
            var owner = await world.Tenant.CreateUserAsync("owner");
            using var client = world.Tenant.ClientFor(owner);
            var url = Fill(template, world, appointment);
            foreach (var (label, body) in Bodies(bodyType, world))
            {
                sent++;
                using var request = new HttpRequestMessage(new HttpMethod(method), url)
                {
                    Content = new StringContent(body, Encoding.UTF8, "application/json"),
                };
                request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
                using var response = await client.SendAsync(request);
                statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                if ((int)response.StatusCode >= 500)
                {
                    var text = await response.Content.ReadAsStringAsync();
                    failures.Add($"{method} {template} [{label}] -> {(int)response.StatusCode}: {Cut(body)} => {Cut(text)}");
                }
            }
        }

        var summary = $"{sent} malformed requests to {routes.Count} write routes; {failures.Count} answered 5xx; by status: "
                      + string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"));
        output.WriteLine(summary);
        // The plausible bodies must get past binding on a good share of routes, or the edge values never reach the
        // handlers' checks and the stores behind them.
        Assert.True(statuses.Where(s => s.Key is >= 200 and < 300).Sum(s => s.Value) >= 50, summary);
        Assert.True(failures.Count == 0, $"{failures.Count} of {sent} malformed requests answered 5xx:\n" + string.Join("\n", failures));
    }

    /// <summary>(method, route template, body type) of every write route under /api (webhooks are signed by their sender).</summary>
    private List<(string Method, string Template, Type? BodyType)> WriteRoutes()
    {
        var source = factory.Services.GetRequiredService<EndpointDataSource>();
        return source.Endpoints.OfType<RouteEndpoint>()
            .Where(
                e => e.RoutePattern.RawText is { } raw
                && raw.StartsWith("/api/", StringComparison.Ordinal)
                && !raw.StartsWith("/api/webhooks", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
                .Where(m => WriteMethods.Contains(m))
                .Select(m => (m, e.RoutePattern.RawText!, e.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType)))
            .Distinct()
            .OrderBy(r => r.Item2, StringComparer.Ordinal).ThenBy(r => r.m, StringComparer.Ordinal)
            .ToList();
    }

    private static string Fill(string template, FlowWorld world, Guid appointment)
    {
        var url = new StringBuilder();
        foreach (var segment in template.Split('/'))
        {
            if (url.Length > 0 || segment.Length > 0)
            {
                url.Append('/');
            }

            if (!segment.StartsWith('{'))
            {
                url.Append(segment);
                continue;
            }

            var name = segment.Trim('{', '}').Split(':')[0];
            url.Append(name switch
            {
                "clinicId" => world.ClinicId.ToString(),
                "patientId" => world.Patients[0].ToString(),
                "providerId" => world.Providers[0].ToString(),
                "roomId" => world.Rooms[0].ToString(),
                "serviceId" => world.ServiceId.ToString(),
                "appointmentId" or "visitId" => appointment.ToString(),
                "userId" => world.FrontDesk.UserId.ToString(),
                _ when segment.Contains(":guid", StringComparison.Ordinal) || name.EndsWith("Id", StringComparison.Ordinal) =>
                    Guid.NewGuid().ToString(),
                _ => "fuzz",
            });
        }

        return url.ToString();
    }

    private static IEnumerable<(string Label, string Body)> Bodies(Type? bodyType, FlowWorld world)
    {
        yield return ("truncated", """{"a":""");
        yield return ("not json", "<xml/>");
        yield return ("empty", "");
        yield return ("null", "null");
        yield return ("array", "[1,null,{}]");
        yield return ("string", "\"text\"");
        yield return ("number", "1e400");
        yield return ("deep", new string('[', 5000) + new string(']', 5000));
        yield return ("deep object", string.Concat(Enumerable.Repeat("{\"a\":", 300)) + "1" + new string('}', 300));
        yield return ("empty object", "{}");
        if (bodyType is null || bodyType.IsPrimitive || bodyType == typeof(string))
        {
            yield break;
        }

        var properties = Properties(bodyType);
        var plausible = Plausible(bodyType, world, depth: 0);
        yield return ("plausible", plausible.ToJsonString());
        foreach (var property in properties)
        {
            var name = JsonNamingPolicy.CamelCase.ConvertName(property.Name);
            foreach (var (label, value) in EdgeValues(property.PropertyType))
            {
                var body = plausible.DeepClone().AsObject();
                body[name] = value;
                yield return ($"{name}={label}", body.ToJsonString());
            }
        }
    }

    private static PropertyInfo[] Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanRead && p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract").ToArray();

    private static IEnumerable<(string Label, JsonNode? Value)> EdgeValues(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        yield return ("null", null);
        yield return ("object", new JsonObject { ["x"] = new JsonArray(null, 1) });
        yield return ("array of nulls", new JsonArray(null, null));
        if (t == typeof(string))
        {
            yield return ("empty", "");
            yield return ("blank", "   ");
            yield return ("NUL", "a\u0000b");
            yield return ("100k", new string('a', 100_000));
            yield return ("emoji", "\U0001F600\u200B\uFEFF");
            yield return ("number", 1);
        }
        else if (t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(decimal) || t == typeof(double))
        {
            yield return ("max int", int.MaxValue);
            yield return ("min int", int.MinValue);
            yield return ("max long", long.MaxValue);
            yield return ("min long", long.MinValue);
            yield return ("-1", -1);
            yield return ("0", 0);
            yield return ("fraction", 0.0000001m);
            yield return ("huge", JsonNode.Parse("1e400"));
            yield return ("big decimal", 79228162514264337593543950335m);
            yield return ("string", "12");
        }
        else if (t == typeof(Guid))
        {
            yield return ("empty guid", Guid.Empty.ToString());
            yield return ("unknown guid", Guid.NewGuid().ToString());
            yield return ("not a guid", "not-a-guid");
        }
        else if (t == typeof(DateTimeOffset) || t == typeof(DateTime))
        {
            yield return ("year 9999", "9999-12-31T23:59:59Z");
            yield return ("year 1", "0001-01-01T00:00:00Z");
            yield return ("year 2200", "2200-12-31T00:00:00Z");
            yield return ("year 1900", "1900-01-01T00:00:00Z");
            yield return ("not a date", "tomorrow");
        }
        else if (t == typeof(DateOnly))
        {
            yield return ("year 9999", "9999-12-31");
            yield return ("year 1", "0001-01-01");
            yield return ("year 2200", "2200-12-31");
            yield return ("year 1900", "1900-01-01");
        }
        else if (t == typeof(bool))
        {
            yield return ("string", "yes");
        }
        else if (IsList(t, out var element))
        {
            yield return ("empty list", new JsonArray());
            yield return ("many", new JsonArray(Enumerable.Range(0, 2000).Select(_ => (JsonNode?)Sample(element, "item")).ToArray()));
            yield return ("edge items", new JsonArray(EdgeValues(element).Take(6).Select(e => e.Value?.DeepClone()).ToArray()));
        }
        else if (t.IsClass && t != typeof(object))
        {
            yield return ("empty object", new JsonObject());
            foreach (var property in Properties(t).Take(4))
            {
                foreach (var (label, value) in EdgeValues(property.PropertyType).Skip(3).Take(4))
                {
                    yield return ($"{property.Name}={label}", new JsonObject { [JsonNamingPolicy.CamelCase.ConvertName(property.Name)] = value });
                }
            }
        }
    }

    private static JsonObject Plausible(Type type, FlowWorld world, int depth)
    {
        var body = new JsonObject();
        foreach (var property in Properties(type))
        {
            var name = JsonNamingPolicy.CamelCase.ConvertName(property.Name);
            body[name] = Sample(property.PropertyType, name, world, depth);
        }

        return body;
    }

    /// <summary>A value a client could well send for the field, so the edge values reach past the first check.</summary>
    private static JsonNode? Sample(Type type, string name, FlowWorld? world = null, int depth = 0)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string))
        {
            return name switch
            {
                _ when name.Contains("email", StringComparison.OrdinalIgnoreCase) => $"fuzz-{Guid.NewGuid():N}@example.test",
                _ when name.Contains("currency", StringComparison.OrdinalIgnoreCase) => "USD",
                _ when name.Contains("phone", StringComparison.OrdinalIgnoreCase) => "+1 212 555 0101",
                _ when name.Contains("timeZone", StringComparison.OrdinalIgnoreCase) => "America/New_York",
                _ when name.Contains("password", StringComparison.OrdinalIgnoreCase) => "correct horse battery staple 42",
                "role" => "front-desk",
                "country" => "US",
                "title" => "np",
                "color" => "#7c3aed",
                "category" => "neurotoxin",
                "taxCategory" => "medical",
                "incomeCategory" => "injectables",
                "sex" => "female",
                "slug" => $"fuzz-{Guid.NewGuid():N}"[..20],
                "number" => "F1",
                _ => "fuzz",
            };
        }

        if (t == typeof(Guid))
        {
            return (world, name) switch
            {
                (null, _) => Guid.NewGuid().ToString(),
                (_, "clinicId") => world.ClinicId.ToString(),
                (_, "patientId") => world.Patients[0].ToString(),
                (_, "providerId") => world.Providers[0].ToString(),
                (_, "roomId") => world.Rooms[0].ToString(),
                (_, "serviceId") => world.ServiceId.ToString(),
                _ => Guid.NewGuid().ToString(),
            };
        }

        if (t == typeof(int) || t == typeof(long) || t == typeof(short))
        {
            // Values the handlers' range checks accept, so an edge value in another field gets as far as the store.
            return name switch
            {
                _ when name.Contains("minutes", StringComparison.OrdinalIgnoreCase) => 30,
                "priority" or "sortOrder" => 0,
                _ => 1,
            };
        }

        if (t == typeof(decimal) || t == typeof(double))
        {
            return 1.5m;
        }

        if (t == typeof(bool))
        {
            return false;
        }

        if (t == typeof(DateTimeOffset) || t == typeof(DateTime))
        {
            return FlowWorld.Day.AddDays(7).ToString("O");
        }

        if (t == typeof(DateOnly))
        {
            return "1990-05-01";
        }

        if (t.IsEnum)
        {
            return JsonNamingPolicy.KebabCaseLower.ConvertName(Enum.GetNames(t)[0]);
        }

        if (IsList(t, out var element))
        {
            return new JsonArray(Sample(element, name, world, depth + 1));
        }

        if (t.IsClass && t != typeof(object) && depth < 3)
        {
            return world is null ? new JsonObject() : Plausible(t, world, depth + 1);
        }

        return null;
    }

    private static bool IsList(Type type, out Type element)
    {
        element = typeof(object);
        if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type))
        {
            return false;
        }

        element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments().FirstOrDefault() ?? typeof(object);
        return true;
    }

    private static string Cut(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
