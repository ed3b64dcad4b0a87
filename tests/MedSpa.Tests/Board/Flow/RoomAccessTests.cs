using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Board.Flow;

/// <summary>
/// The live room endpoints look a room's clinic up once per host (RoomClinics); knowing it must never let a caller
/// who may not see that clinic through.
/// </summary>
public sealed class RoomAccessTests(FlowApiFactory factory) : IClassFixture<FlowApiFactory>
{
    [Fact]
    public async Task Staff_of_no_clinic_of_the_room_and_other_tenants_get_404_before_and_after_the_room_is_known()
    {
        var world = await FlowWorld.CreateAsync(factory, rooms: 1);
        var room = world.Rooms[0];
        var otherClinic = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @otherClinic, 'Uptown', 'America/New_York', "
                + "'USD')",
                new { world.TenantId, otherClinic });
        }

        // Front desk of the same tenant's other clinic only.
        var unassigned = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("front-desk", otherClinic));
        var otherTenant = await TestTenant.CreateAsync(factory);
        var stranger = otherTenant.ClientFor(otherTenant.Owner);

        // Before anyone allowed asked (nothing remembered yet), then after the clinic's own desk did.
        foreach (var round in new[] { "cold", "warm" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await unassigned.GetAsync($"/api/rooms/{room}/status")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/api/rooms/{room}/status")).StatusCode);
            Assert.Equal(
                HttpStatusCode.NotFound, (await unassigned.PostJson($"/api/rooms/{room}/out-of-service", new { reason = round })).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await stranger.PostJson($"/api/rooms/{room}/out-of-service", new { reason = round })).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await world.Desk().GetAsync($"/api/rooms/{Guid.NewGuid()}/status")).StatusCode);
            Assert.Equal("empty", (await world.Desk().GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
        }

        // Nothing the refused callers sent changed the room.
        Assert.Equal("empty", (await world.Desk().GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
    }
}
