using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.ReferenceData.ReferenceDataRequests;

namespace MedSpa.Tests.Rooms;

public sealed class RoomsTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Room_round_trip_create_get_list_update_archive()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var rooms = $"/api/clinics/{tenant.ClinicId}/rooms";

        var laser = await owner.CreateAsync(rooms, new { number = "3", name = "Laser suite", kind = "laser", sortOrder = 3 });
        var treatment = await owner.CreateAsync(rooms, Room("1", "Treatment 1"));

        var got = await owner.GetJsonAsync($"{rooms}/{laser}");
        Assert.Equal("3", got.GetProperty("number").GetString());
        Assert.Equal("Laser suite", got.GetProperty("name").GetString());
        Assert.Equal("laser", got.GetProperty("kind").GetString());
        Assert.Equal(tenant.ClinicId, got.GetProperty("clinicId").GetGuid());
        Assert.False(got.GetProperty("outOfService").GetBoolean());

        // Listed in board order (sortOrder, then number).
        Assert.Equal([treatment, laser], (await owner.GetJsonAsync(rooms)).Ids());

        var update = await owner.PutJsonAsync($"{rooms}/{laser}", new
        {
            number = "3",
            name = "Laser suite",
            kind = "laser",
            sortOrder = 3,
            outOfService = true,
            outOfServiceReason = "Laser head replacement",
        });
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = await owner.GetJsonAsync($"{rooms}/{laser}");
        Assert.True(updated.GetProperty("outOfService").GetBoolean());
        Assert.Equal("Laser head replacement", updated.GetProperty("outOfServiceReason").GetString());
        Assert.True(updated.GetProperty("active").GetBoolean());

        // A provider of the clinic reads rooms; front desk reads too. Neither writes.
        var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        Assert.Equal(2, (await provider.GetJsonAsync(rooms)).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.DeleteAsync($"{rooms}/{laser}")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"{rooms}/{laser}")).StatusCode);
        Assert.False((await owner.GetJsonAsync($"{rooms}/{laser}")).GetProperty("active").GetBoolean());
        Assert.Equal([treatment], (await owner.GetJsonAsync(rooms)).Ids());
        Assert.Equal(2, (await owner.GetJsonAsync($"{rooms}?includeInactive=true")).GetProperty("total").GetInt64());

        // Reactivating through PUT brings it back.
        var reactivate = await owner.PutJsonAsync($"{rooms}/{laser}", new { number = "3", name = "Laser suite", kind = "laser", active = true });
        Assert.Equal(HttpStatusCode.OK, reactivate.StatusCode);
        Assert.Equal(2, (await owner.GetJsonAsync(rooms)).GetProperty("total").GetInt64());

        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync($"{rooms}/{Guid.NewGuid()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync($"/api/clinics/{Guid.NewGuid()}/rooms")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.PostJsonAsync($"/api/clinics/{Guid.NewGuid()}/rooms", Room("9"))).StatusCode);
    }

    [Fact]
    public async Task Duplicate_room_number_in_a_clinic_is_a_conflict()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var rooms = $"/api/clinics/{tenant.ClinicId}/rooms";
        await owner.CreateAsync(rooms, Room("A1", "Treatment A1"));
        var other = await owner.CreateAsync(rooms, Room("A2", "Treatment A2"));

        // Same number, different case and padding: still the same room number.
        var duplicate = await owner.PostJsonAsync(rooms, Room(" a1 ", "Another"));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("conflict", (await duplicate.ReadJsonAsync()).GetProperty("code").GetString());

        // Renaming another room onto the number conflicts as well, and leaves that room as it was.
        var rename = await owner.PutJsonAsync($"{rooms}/{other}", Room("A1", "Renamed"));
        Assert.Equal(HttpStatusCode.Conflict, rename.StatusCode);
        Assert.Equal("A2", (await owner.GetJsonAsync($"{rooms}/{other}")).GetProperty("number").GetString());
        Assert.Equal(2, (await owner.GetJsonAsync($"{rooms}?includeInactive=true")).GetProperty("total").GetInt64());

        // The same number in another clinic is fine.
        var second = await owner.CreateAsync("/api/clinics", Clinic("Second"));
        await owner.CreateAsync($"/api/clinics/{second}/rooms", Room("A1", "Treatment A1"));
    }
}
