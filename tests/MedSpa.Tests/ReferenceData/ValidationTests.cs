using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.ReferenceData;

/// <summary>
/// Bad input to every reference-data resource → 400 ProblemDetails with code <c>validation_failed</c> whose errors
/// name the offending field (camelCase JSON path), and nothing changes. Malformed JSON and wrong JSON types included.
/// </summary>
public sealed class ValidationTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private const string RoomBody = """{"number":"1","name":"Treatment 1","kind":"treatment"}""";
    private const string Money = """{"amount":1400,"currency":"USD"}""";

    /// <summary>(case, method, url template, JSON body, expected error field, URL whose GET must not change).</summary>
    public static TheoryData<string, string, string, string, string, string> Cases => new()
    {
        // Clinics
        { "clinic: empty body", "POST", "/api/clinics", "{}", "name", "/api/clinics?includeInactive=true" },
        { "clinic: unknown time zone", "POST", "/api/clinics", """{"name":"A","timeZone":"Mars/Olympus","currency":"USD"}""", "timeZone",
            "/api/clinics?includeInactive=true" },
        { "clinic: Windows time zone", "POST", "/api/clinics", """{"name":"A","timeZone":"Eastern Standard Time","currency":"USD"}""", "timeZone",
            "/api/clinics?includeInactive=true" },
        { "clinic: lowercase currency", "POST", "/api/clinics", """{"name":"A","timeZone":"America/New_York","currency":"usd"}""", "currency",
            "/api/clinics?includeInactive=true" },
        { "clinic: bad email", "POST", "/api/clinics", """{"name":"A","timeZone":"UTC","currency":"USD","email":"not-an-email"}""", "email",
            "/api/clinics?includeInactive=true" },
        { "clinic: country not ISO", "POST", "/api/clinics", """{"name":"A","timeZone":"UTC","currency":"USD","address":{"country":"USA"}}""",
            "address.country", "/api/clinics?includeInactive=true" },
        { "clinic: malformed JSON", "POST", "/api/clinics", """{"name": "A", """, "body", "/api/clinics?includeInactive=true" },
        { "clinic: wrong type for flag", "PUT", "/api/clinics/{clinic}",
            """{"name":"A","timeZone":"UTC","currency":"USD","showFullPatientNames":"yes"}""", "showFullPatientNames", "/api/clinics/{clinic}" },
        // Rooms
        { "room: missing number", "POST", "/api/clinics/{clinic}/rooms", """{"name":"Treatment 1","kind":"treatment"}""", "number",
            "/api/clinics/{clinic}/rooms?includeInactive=true" },
        { "room: unknown kind", "POST", "/api/clinics/{clinic}/rooms", """{"number":"7","name":"Sauna","kind":"sauna"}""", "kind",
            "/api/clinics/{clinic}/rooms?includeInactive=true" },
        { "room: number too long", "POST", "/api/clinics/{clinic}/rooms", """{"number":"123456789012345678901","name":"X","kind":"laser"}""",
            "number", "/api/clinics/{clinic}/rooms?includeInactive=true" },
        { "room: sortOrder not a number", "POST", "/api/clinics/{clinic}/rooms", """{"number":"7","name":"X","kind":"laser","sortOrder":"first"}""",
            "sortOrder", "/api/clinics/{clinic}/rooms?includeInactive=true" },
        { "room: update without name", "PUT", "/api/clinics/{clinic}/rooms/{room}", """{"number":"1","kind":"treatment"}""", "name",
            "/api/clinics/{clinic}/rooms/{room}" },
        { "room: malformed JSON", "POST", "/api/clinics/{clinic}/rooms", """{"number": 1""", "number",
            "/api/clinics/{clinic}/rooms?includeInactive=true" },
        // Tax rates
        { "tax: more than 3 decimals", "POST", "/api/clinics/{clinic}/tax-rates", """{"name":"T","ratePercent":8.8755,"taxCategory":"retail"}""",
            "ratePercent", "/api/clinics/{clinic}/tax-rates?includeInactive=true" },
        { "tax: over 100 %", "POST", "/api/clinics/{clinic}/tax-rates", """{"name":"T","ratePercent":101,"taxCategory":"retail"}""", "ratePercent",
            "/api/clinics/{clinic}/tax-rates?includeInactive=true" },
        { "tax: exempt category", "POST", "/api/clinics/{clinic}/tax-rates", """{"name":"T","ratePercent":5,"taxCategory":"exempt"}""", "taxCategory",
            "/api/clinics/{clinic}/tax-rates?includeInactive=true" },
        { "tax: rate is a boolean", "POST", "/api/clinics/{clinic}/tax-rates", """{"name":"T","ratePercent":true,"taxCategory":"retail"}""",
            "ratePercent", "/api/clinics/{clinic}/tax-rates?includeInactive=true" },
        { "tax: malformed JSON", "POST", "/api/clinics/{clinic}/tax-rates", """{"name" "T"}""", "body",
            "/api/clinics/{clinic}/tax-rates?includeInactive=true" },
        // Providers
        { "provider: missing names", "POST", "/api/providers", """{"title":"rn","color":"#112233"}""", "firstName",
            "/api/providers?includeInactive=true" },
        { "provider: colour not hex", "POST", "/api/providers", """{"firstName":"A","lastName":"B","title":"rn","color":"purple"}""", "color",
            "/api/providers?includeInactive=true" },
        { "provider: unknown title", "POST", "/api/providers", """{"firstName":"A","lastName":"B","title":"wizard","color":"#112233"}""", "title",
            "/api/providers?includeInactive=true" },
        { "provider: unknown user", "POST", "/api/providers",
            """{"firstName":"A","lastName":"B","title":"rn","color":"#112233","userId":"6f9619ff-8b86-d011-b42d-00c04fc964ff"}""", "userId",
            "/api/providers?includeInactive=true" },
        { "provider: unknown clinic", "POST", "/api/providers",
            """{"firstName":"A","lastName":"B","title":"rn","color":"#112233","clinicIds":["6f9619ff-8b86-d011-b42d-00c04fc964ff"]}""", "clinicIds",
            "/api/providers?includeInactive=true" },
        { "provider: clinicIds not a list", "POST", "/api/providers",
            """{"firstName":"A","lastName":"B","title":"rn","color":"#112233","clinicIds":"abc"}""", "clinicIds",
            "/api/providers?includeInactive=true" },
        { "provider: blank specialty", "POST", "/api/providers",
            """{"firstName":"A","lastName":"B","title":"rn","color":"#112233","specialties":[" "]}""", "specialties[0]",
            "/api/providers?includeInactive=true" },
        { "provider: malformed JSON", "PUT", "/api/providers/{provider}", """[1, 2""", "body", "/api/providers/{provider}" },
        // Services
        { "service: duration not a number", "POST", "/api/services",
            $$"""{"name":"S","category":"facial","durationMinutes":"thirty","price":{{Money}},"taxCategory":"service","incomeCategory":"facials"}""",
            "durationMinutes", "/api/services?includeInactive=true" },
        { "service: duration zero", "POST", "/api/services",
            $$"""{"name":"S","category":"facial","durationMinutes":0,"price":{{Money}},"taxCategory":"service","incomeCategory":"facials"}""",
            "durationMinutes", "/api/services?includeInactive=true" },
        { "service: price missing", "POST", "/api/services",
            """{"name":"S","category":"facial","durationMinutes":30,"taxCategory":"service","incomeCategory":"facials"}""", "price",
            "/api/services?includeInactive=true" },
        { "service: negative price", "POST", "/api/services",
            """{"name":"S","category":"facial","durationMinutes":30,"price":{"amount":-1,"currency":"USD"},"taxCategory":"service","incomeCategory":"facials"}""",
            "price.amount", "/api/services?includeInactive=true" },
        { "service: price without currency", "POST", "/api/services",
            """{"name":"S","category":"facial","durationMinutes":30,"price":{"amount":100},"taxCategory":"service","incomeCategory":"facials"}""",
            "price.currency", "/api/services?includeInactive=true" },
        { "service: price as a number", "POST", "/api/services",
            """{"name":"S","category":"facial","durationMinutes":30,"price":12.5,"taxCategory":"service","incomeCategory":"facials"}""", "price",
            "/api/services?includeInactive=true" },
        { "service: category not kebab-case", "POST", "/api/services",
            $$"""{"name":"S","category":"Neuro Toxin","durationMinutes":30,"price":{{Money}},"taxCategory":"service","incomeCategory":"facials"}""",
            "category", "/api/services?includeInactive=true" },
        { "service: unknown tax category", "POST", "/api/services",
            $$"""{"name":"S","category":"facial","durationMinutes":30,"price":{{Money}},"taxCategory":"luxury","incomeCategory":"facials"}""",
            "taxCategory", "/api/services?includeInactive=true" },
        { "service: list filter not kebab-case", "GET", "/api/services?category=Bad%20Cat", "", "category", "" },
        { "service: malformed JSON", "PUT", "/api/services/{service}", """{"name": "S",,}""", "body", "/api/services/{service}" },
        // Products
        { "product: unknown kind", "POST", "/api/products",
            $$"""{"name":"P","kind":"potion","unit":"each","unitsPerPackage":1,"pricePerUnit":{{Money}},"taxCategory":"retail","incomeCategory":"retail"}""",
            "kind", "/api/products?includeInactive=true" },
        { "product: toxin priced per syringe", "POST", "/api/products",
            $$"""{"name":"P","kind":"neurotoxin","unit":"syringe","syringeSizeMl":1,"unitsPerPackage":100,"pricePerUnit":{{Money}},"taxCategory":"medical","incomeCategory":"injectables"}""",
            "unit", "/api/products?includeInactive=true" },
        { "product: filler without syringe size", "POST", "/api/products",
            $$"""{"name":"P","kind":"filler","unit":"syringe","unitsPerPackage":1,"pricePerUnit":{{Money}},"taxCategory":"medical","incomeCategory":"fillers"}""",
            "syringeSizeMl", "/api/products?includeInactive=true" },
        { "product: zero diluent", "POST", "/api/products",
            $$"""{"name":"P","kind":"neurotoxin","unit":"units","unitsPerPackage":100,"pricePerUnit":{{Money}},"reconstitutionOptions":[{"diluentMl":0,"unitsPerMl":40}],"taxCategory":"medical","incomeCategory":"injectables"}""",
            "reconstitutionOptions[0].diluentMl", "/api/products?includeInactive=true" },
        { "product: default diluent not an option", "POST", "/api/products",
            $$"""{"name":"P","kind":"neurotoxin","unit":"units","unitsPerPackage":100,"pricePerUnit":{{Money}},"reconstitutionOptions":[{"diluentMl":2.5,"unitsPerMl":40}],"defaultDiluentMl":3,"taxCategory":"medical","incomeCategory":"injectables"}""",
            "defaultDiluentMl", "/api/products?includeInactive=true" },
        { "product: units per package not a number", "POST", "/api/products",
            $$"""{"name":"P","kind":"retail","unit":"each","unitsPerPackage":"lots","pricePerUnit":{{Money}},"taxCategory":"retail","incomeCategory":"retail"}""",
            "unitsPerPackage", "/api/products?includeInactive=true" },
        { "product: zero stability", "POST", "/api/products",
            $$"""{"name":"P","kind":"neurotoxin","unit":"units","unitsPerPackage":100,"pricePerUnit":{{Money}},"stabilityHours":0,"taxCategory":"medical","incomeCategory":"injectables"}""",
            "stabilityHours", "/api/products?includeInactive=true" },
        { "product: cost in another currency", "POST", "/api/products",
            $$"""{"name":"P","kind":"retail","unit":"each","unitsPerPackage":1,"pricePerUnit":{{Money}},"costPerPackage":{"amount":1,"currency":"EUR"},"taxCategory":"retail","incomeCategory":"retail"}""",
            "costPerPackage.currency", "/api/products?includeInactive=true" },
        { "product: malformed JSON", "PUT", "/api/products/{product}", """{"name": 'P'}""", "name", "/api/products/{product}" },
        // Patients
        { "patient: empty body", "POST", "/api/patients", "{}", "lastName", "/api/patients?includeInactive=true" },
        { "patient: bad email", "POST", "/api/patients", """{"firstName":"A","lastName":"B","email":"a@"}""", "email",
            "/api/patients?includeInactive=true" },
        { "patient: phone with letters", "POST", "/api/patients", """{"firstName":"A","lastName":"B","phone":"call me maybe"}""", "phone",
            "/api/patients?includeInactive=true" },
        { "patient: born in the future", "POST", "/api/patients", """{"firstName":"A","lastName":"B","dateOfBirth":"2999-01-01"}""", "dateOfBirth",
            "/api/patients?includeInactive=true" },
        { "patient: date of birth not ISO", "POST", "/api/patients", """{"firstName":"A","lastName":"B","dateOfBirth":"14/03/1988"}""", "dateOfBirth",
            "/api/patients?includeInactive=true" },
        { "patient: unknown sex", "POST", "/api/patients", """{"firstName":"A","lastName":"B","sex":"robot"}""", "sex",
            "/api/patients?includeInactive=true" },
        { "patient: unknown preferred clinic", "POST", "/api/patients",
            """{"firstName":"A","lastName":"B","preferredClinicId":"6f9619ff-8b86-d011-b42d-00c04fc964ff"}""", "preferredClinicId",
            "/api/patients?includeInactive=true" },
        { "patient: allergies not a list", "POST", "/api/patients", """{"firstName":"A","lastName":"B","allergies":"peanuts"}""", "allergies",
            "/api/patients?includeInactive=true" },
        { "patient: not JSON at all", "POST", "/api/patients", "hello", "body", "/api/patients?includeInactive=true" },
        { "patient: update wrong type", "PUT", "/api/patients/{patient}", """{"firstName":"A","lastName":"B","marketingConsent":"sure"}""",
            "marketingConsent", "/api/patients/{patient}" },
        // Paging, shared by every list
        { "paging: pageSize over 100", "GET", "/api/patients?pageSize=101", "", "pageSize", "" },
        { "paging: page zero", "GET", "/api/clinics/{clinic}/rooms?page=0", "", "page", "" },
        { "paging: page not a number", "GET", "/api/products?page=abc", "", "page", "" },
        { "search: phone without digits", "GET", "/api/patients?phone=abc", "", "phone", "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_is_a_400_naming_the_field(string name, string method, string template, string json, string field, string probe)
    {
        var resources = await TenantResources.CreateAsync(await TestTenant.CreateAsync(factory));
        var client = resources.Tenant.ClientFor(resources.Tenant.Owner);
        var before = probe.Length > 0 ? (await client.GetJsonAsync(resources.Resolve(probe))).GetRawText() : null;

        var response = method == "GET"
            ? await client.GetAsync(resources.Resolve(template))
            : await client.SendRawAsync(new HttpMethod(method), resources.Resolve(template), json);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{name}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.ReadJsonAsync();
        Assert.Equal("validation_failed", problem.GetProperty("code").GetString());
        var errors = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.NotEmpty(errors);
        if (field != "*")
        {
            Assert.True(errors.Contains(field), $"{name}: expected an error for '{field}', got [{string.Join(", ", errors)}] in {text}");
        }

        if (before is not null)
        {
            Assert.Equal(before, (await client.GetJsonAsync(resources.Resolve(probe))).GetRawText());
        }
    }
}
