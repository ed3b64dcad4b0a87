using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.ReferenceData;

/// <summary>A request the matrix sends: method, URL and optional body, built for a given tenant.</summary>
public sealed record MatrixRequest(HttpMethod Method, Func<TestTenant, string> Url, Func<TestTenant, object?>? Body = null);

/// <summary>
/// An endpoint group of the role matrix: one representative read and write request, and the roles allowed each.
/// Everybody else signed in gets 403; anonymous callers get 401.
/// </summary>
public sealed record EndpointGroup(
    string Name, MatrixRequest Read, IReadOnlyList<string> ReadRoles, MatrixRequest Write, IReadOnlyList<string> WriteRoles);

/// <summary>
/// The role × endpoint-group matrix. Other features add their groups to <see cref="Groups"/>; every role, including
/// anonymous, is checked against each group's read and write.
/// </summary>
public sealed class RoleMatrixTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    public const string Anonymous = "anonymous";
    public static readonly string[] AllRoles = ["owner", "admin", "provider", "front-desk", "patient", "display", Anonymous];

    private static readonly string[] Staff = ["owner", "admin", "provider", "front-desk"];
    private static readonly string[] Admins = ["owner", "admin"];
    private static readonly string[] FrontDeskAndAbove = ["owner", "admin", "front-desk"];

    public static readonly IReadOnlyList<EndpointGroup> Groups =
    [
        new("clinics",
            new(HttpMethod.Get, t => $"/api/clinics/{t.ClinicId}"), Staff,
            new(HttpMethod.Post, _ => "/api/clinics", _ => Clinic()), Admins),
        new("rooms",
            new(HttpMethod.Get, t => $"/api/clinics/{t.ClinicId}/rooms"), Staff,
            new(HttpMethod.Post, t => $"/api/clinics/{t.ClinicId}/rooms", _ => Room()), Admins),
        new("tax-rates",
            new(HttpMethod.Get, t => $"/api/clinics/{t.ClinicId}/tax-rates"), Staff,
            new(HttpMethod.Post, t => $"/api/clinics/{t.ClinicId}/tax-rates", _ => TaxRate()), Admins),
        new("providers",
            new(HttpMethod.Get, _ => "/api/providers"), Staff,
            new(HttpMethod.Post, _ => "/api/providers", t => Provider(t.ClinicId)), Admins),
        new("services",
            new(HttpMethod.Get, _ => "/api/services"), Staff,
            new(HttpMethod.Post, _ => "/api/services", _ => Service()), Admins),
        new("products",
            new(HttpMethod.Get, _ => "/api/products"), Staff,
            new(HttpMethod.Post, _ => "/api/products", _ => Product()), Admins),
        new("patients",
            new(HttpMethod.Get, _ => "/api/patients?q=mart"), Staff,
            new(HttpMethod.Post, _ => "/api/patients", _ => Patient()), FrontDeskAndAbove),
        new("package-definitions",
            new(HttpMethod.Get, _ => "/api/package-definitions"), Staff,
            new(HttpMethod.Post, _ => "/api/package-definitions", _ => new { name = "HydraFacial x3", type = "standard" }), Admins),
        new("package-templates",
            new(HttpMethod.Get, _ => "/api/package-templates"), Staff,
            new(HttpMethod.Post, _ => "/api/package-templates/hydrafacial-x3/copy", _ => new { }), Admins),
    ];

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var group in Groups)
        {
            foreach (var access in new[] { "read", "write" })
            {
                foreach (var role in AllRoles)
                {
                    data.Add(group.Name, access, role);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Role_gets_expected_status(string groupName, string access, string role)
    {
        var group = Groups.Single(g => g.Name == groupName);
        var (request, allowed) = access == "read" ? (group.Read, group.ReadRoles) : (group.Write, group.WriteRoles);
        var tenant = await TestTenant.CreateAsync(factory);
        var client = role == Anonymous ? factory.CreateClient() : tenant.ClientFor(await tenant.CreateUserAsync(role));

        var message = new HttpRequestMessage(request.Method, request.Url(tenant));
        if (request.Body?.Invoke(tenant) is { } body)
        {
            message.Content = JsonContent.Create(body, options: MedSpaApiFactory.Json);
        }

        var response = await client.SendAsync(message);
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync();
        if (role == Anonymous)
        {
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{groupName} {access} as {role} → {status}: {text}");
        }
        else if (allowed.Contains(role))
        {
            Assert.True(status is >= 200 and < 300, $"{groupName} {access} as {role} → {status}: {text}");
        }
        else
        {
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{groupName} {access} as {role} → {status}: {text}");
        }
    }
}
