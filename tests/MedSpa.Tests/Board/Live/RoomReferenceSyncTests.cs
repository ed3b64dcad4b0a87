using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Board.Live;

/// <summary>
/// The rooms API and the live board describe the same rooms: a new room is on the board at once, an archived room
/// leaves it and stops taking commands, and out-of-service is one fact whichever side changes it.
/// </summary>
public sealed class RoomReferenceSyncTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    [Fact]
    public async Task A_room_created_through_the_rooms_api_is_on_the_board_and_pushed_at_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        await using var screen = factory.Client(tenant.Owner.AccessToken);
        var joined = await screen.JoinAsync(tenant.ClinicId);
        Assert.Empty(Assert.IsType<BoardSnapshot>(joined.Snapshot).Rooms);

        var roomId = await CreateRoomAsync(owner, tenant, "7", "Laser suite");

        // The create answered after the board had the card: no waiting for a first status change.
        var board = await BoardAsync(owner, tenant);
        var card = Assert.Single(board.GetProperty("rooms").EnumerateArray());
        Assert.Equal(roomId, card.GetProperty("roomId").GetGuid());
        Assert.Equal("empty", card.GetProperty("status").GetString());
        Assert.Equal("7 · Laser suite", card.GetProperty("name").GetString());
        await Eventually.TrueAsync(
            () => screen.Received.Any(e => e.Event == BoardEventNames.RoomUpdated && e.Data is RoomCard c && c.RoomId == roomId),
            "the screen hears of the new room");
    }

    [Fact]
    public async Task An_archived_room_leaves_the_board_and_its_live_commands_are_404_until_reactivated()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var roomId = await CreateRoomAsync(owner, tenant, "2", "Facial room");
        var kept = await CreateRoomAsync(owner, tenant, "3", "Consult room");
        await using var screen = factory.Client(tenant.Owner.AccessToken);
        await screen.JoinAsync(tenant.ClinicId);

        using (var archived = await owner.DeleteAsync($"/api/clinics/{tenant.ClinicId}/rooms/{roomId}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, archived.StatusCode);
        }

        var board = await BoardAsync(owner, tenant);
        Assert.Equal([kept], board.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("roomId").GetGuid()));
        await Eventually.TrueAsync(
            () => screen.Received.Any(e => e.Event == BoardEventNames.RoomRemoved && e.Data is RoomCard c && c.RoomId == roomId),
            "the screen hears that the room left");

        await owner.GetAsync($"/api/rooms/{roomId}/status").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await owner.PostJson($"/api/rooms/{roomId}/out-of-service", new { reason = "still here?" })
            .ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await owner.PostJson($"/api/rooms/{roomId}/clean", new { }).ProblemAsync(HttpStatusCode.NotFound, "not_found");
        var listed = await owner.GetFromJsonAsync<JsonElement>($"/api/clinics/{tenant.ClinicId}/rooms/{roomId}");
        Assert.False(listed.GetProperty("active").GetBoolean());
        Assert.False(listed.GetProperty("outOfService").GetBoolean()); // the refused command changed nothing

        // Reactivated: back on the board, commands work again.
        await owner.PutAsJsonAsync($"/api/clinics/{tenant.ClinicId}/rooms/{roomId}",
            new { number = "2", name = "Facial room", kind = "facial", active = true }, MedSpaApiFactory.Json).OkJsonAsync();
        board = await BoardAsync(owner, tenant);
        Assert.Contains(roomId, board.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("roomId").GetGuid()));
        Assert.Equal("empty", (await owner.GetAsync($"/api/rooms/{roomId}/status").OkJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Out_of_service_set_through_either_api_is_the_same_fact_in_both()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var roomId = await CreateRoomAsync(owner, tenant, "4", "Laser room");
        var path = $"/api/clinics/{tenant.ClinicId}/rooms/{roomId}";

        // Rooms API → live status and board.
        var updated = await owner.PutAsJsonAsync(path,
            new { number = "4", name = "Laser room", kind = "laser", outOfService = true, outOfServiceReason = "Laser head replacement" },
            MedSpaApiFactory.Json).OkJsonAsync();
        Assert.True(updated.GetProperty("outOfService").GetBoolean());
        var live = await owner.GetAsync($"/api/rooms/{roomId}/status").OkJsonAsync();
        Assert.Equal("out-of-service", live.GetProperty("status").GetString());
        Assert.Equal("Laser head replacement", live.GetProperty("outOfServiceReason").GetString());
        var card = (await BoardAsync(owner, tenant)).GetProperty("rooms").EnumerateArray().Single(r => r.GetProperty("roomId").GetGuid() == roomId);
        Assert.Equal("out-of-service", card.GetProperty("status").GetString());

        // Live → rooms API.
        await owner.PostJson($"/api/rooms/{roomId}/in-service", new { }).OkJsonAsync();
        var listed = await owner.GetFromJsonAsync<JsonElement>(path);
        Assert.False(listed.GetProperty("outOfService").GetBoolean());
        Assert.Equal(JsonValueKind.Null, listed.GetProperty("outOfServiceReason").ValueKind);

        await owner.PostJson($"/api/rooms/{roomId}/out-of-service", new { reason = "Deep clean" }).OkJsonAsync();
        listed = await owner.GetFromJsonAsync<JsonElement>(path);
        Assert.True(listed.GetProperty("outOfService").GetBoolean());
        Assert.Equal("Deep clean", listed.GetProperty("outOfServiceReason").GetString());

        // Rooms API returns it to service → live agrees.
        await owner.PutAsJsonAsync(path, new { number = "4", name = "Laser room", kind = "laser", outOfService = false }, MedSpaApiFactory.Json)
            .OkJsonAsync();
        Assert.Equal("empty", (await owner.GetAsync($"/api/rooms/{roomId}/status").OkJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_room_with_a_patient_in_it_is_neither_taken_out_of_service_nor_archived_through_the_rooms_api()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var room = world.Rooms[0];
        var appointment = await world.BookAsync(desk, world.Booking());
        await desk.Visit(appointment, "check-in").OkJsonAsync();
        await desk.Visit(appointment, "seat", new { roomId = room }).OkJsonAsync();
        var path = $"/api/clinics/{world.ClinicId}/rooms/{room}";
        var occupied = (await owner.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString();
        Assert.Equal("waiting", occupied); // the patient is in the room, waiting for the provider

        var refused = await owner.PutAsJsonAsync(
            path, new { number = "1", name = "Room 1", kind = "treatment", outOfService = true, outOfServiceReason = "Broken" },
            MedSpaApiFactory.Json).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(occupied, refused.GetProperty("currentStatus").GetString());
        Assert.False((await owner.GetFromJsonAsync<JsonElement>(path)).GetProperty("outOfService").GetBoolean());

        await owner.DeleteAsync(path).ProblemAsync(HttpStatusCode.Conflict, "room_occupied");
        Assert.True((await owner.GetFromJsonAsync<JsonElement>(path)).GetProperty("active").GetBoolean());
        Assert.Equal(occupied, (await owner.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
    }

    private static async Task<Guid> CreateRoomAsync(HttpClient client, TestTenant tenant, string number, string name)
    {
        using var response = await client.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/rooms",
            new { number, name, kind = "treatment" }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> BoardAsync(HttpClient client, TestTenant tenant) =>
        await client.GetAsync($"/api/clinics/{tenant.ClinicId}/board").OkJsonAsync();
}
