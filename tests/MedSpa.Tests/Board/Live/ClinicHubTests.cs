using Microsoft.AspNetCore.SignalR.Client;
using System.Net;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Api.Features.Board.Live;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.SignalR;
using Npgsql;

namespace MedSpa.Tests.Board.Live;

/// <summary>The hub with the real .NET SignalR client against the real server on a socket.</summary>
public sealed class ClinicHubTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    [Fact]
    public async Task JoinBoard_refuses_users_who_cannot_see_the_clinic()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var otherClinic = await tenant.AddClinicAsync();
        var provider = await tenant.CreateUserAsync("provider");
        var patient = await tenant.CreateUserAsync("patient");
        var otherTenant = await TestTenant.CreateAsync(factory);

        await using (var client = factory.Client(provider.AccessToken))
        {
            var refused = await Assert.ThrowsAsync<HubException>(() => client.JoinAsync(otherClinic));
            Assert.Contains("unauthorized", refused.Message);
            // The same connection can still join its own clinic.
            var joined = await client.JoinAsync(tenant.ClinicId);
            Assert.NotNull(joined.Snapshot);
        }

        await using (var client = factory.Client(patient.AccessToken))
        {
            await Assert.ThrowsAsync<HubException>(() => client.JoinAsync(tenant.ClinicId));
        }

        await using (var client = factory.Client(otherTenant.Owner.AccessToken))
        {
            // An owner sees every clinic of their own tenant only.
            await Assert.ThrowsAsync<HubException>(() => client.JoinAsync(tenant.ClinicId));
        }

        await using (var client = factory.Client(tenant.Owner.AccessToken))
        {
            Assert.NotNull((await client.JoinAsync(otherClinic)).Snapshot);
        }
    }

    [Fact]
    public async Task First_join_gets_a_snapshot_built_from_the_clinics_rooms_and_providers()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("3", "Laser suite");
        var providerId = await tenant.AddProviderAsync("Dr. Ava Stone", null);
        var frontDesk = await tenant.CreateUserAsync("front-desk");

        await using var client = factory.Client(frontDesk.AccessToken);
        var joined = await client.JoinAsync(tenant.ClinicId);

        var snapshot = Assert.IsType<BoardSnapshot>(joined.Snapshot);
        Assert.Null(joined.Events);
        Assert.Equal(0, snapshot.Seq);
        Assert.Equal("Main clinic", snapshot.ClinicName);
        var card = Assert.Single(snapshot.Rooms);
        Assert.Equal((room, RoomStatus.Empty, "3 · Laser suite"), (card.RoomId, card.Status, card.Name));
        var providerCard = Assert.Single(snapshot.Providers);
        Assert.Equal(
            (providerId, ProviderStatus.Offline, DeviceConnection.Disconnected),
            (providerCard.ProviderId, providerCard.Status, providerCard.Connection));
    }

    [Fact]
    public async Task Pushed_events_arrive_in_seq_order_as_kebab_case_envelopes_with_patient_initials()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        await using var client = factory.Client(tenant.Owner.AccessToken);
        var joined = await client.JoinAsync(tenant.ClinicId);

        var last = await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(room, RoomStatus.InProgress, "John Doe")]);

        await Eventually.TrueAsync(() => client.Received.Count == 1, "the event arrives");
        var envelope = client.Received[0];
        Assert.Equal((joined.Seq + 1, last, BoardEventNames.RoomUpdated), (envelope.Seq, envelope.Seq, envelope.Event));
        Assert.Equal("J.D.", Assert.IsType<RoomCard>(envelope.Data).Patient);
        var json = client.ReceivedJson[0];
        Assert.Contains("\"event\":\"room.updated\"", json);
        Assert.Contains("\"status\":\"in-progress\"", json);
        Assert.Contains("\"phase\":\"just-started\"", json);
        Assert.DoesNotContain("John", json);

        // The stored snapshot holds the masked name too.
        var snapshot = await factory.Grains.Board(tenant).GetSnapshotAsync();
        Assert.Equal("J.D.", snapshot.Rooms.Single(r => r.RoomId == room).Patient);
    }

    [Fact]
    public async Task A_clinic_that_turned_full_names_on_shows_them()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var clinic = await tenant.AddClinicAsync(showFullNames: true);
        var room = Guid.NewGuid();
        var board = factory.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, clinic));
        await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "  Jane   Roe ")]);
        Assert.Equal("Jane Roe", (await board.GetSnapshotAsync()).Rooms.Single(r => r.RoomId == room).Patient);
    }

    [Fact]
    public async Task A_client_that_reconnects_with_its_last_seq_receives_exactly_the_50_it_missed()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        await board.PublishAsync(BoardTestData.RoomChanges(room, 5));

        long lastSeq;
        await using (var client = factory.Client(tenant.Owner.AccessToken))
        {
            var joined = await client.JoinAsync(tenant.ClinicId);
            await board.PublishAsync(BoardTestData.RoomChanges(room, 3));
            await Eventually.TrueAsync(() => client.Received.Count == 3, "three live events arrive");
            lastSeq = client.Received[^1].Seq;
            Assert.Equal(joined.Seq + 3, lastSeq);
        }

        // 50 events while disconnected, published one by one as flow grains would.
        for (var i = 0; i < 50; i++)
        {
            await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Documenting, $"P{i} Q")]);
        }

        await using var again = factory.Client(tenant.Owner.AccessToken);
        var result = await again.JoinAsync(tenant.ClinicId, lastSeq);

        Assert.Null(result.Snapshot);
        var events = Assert.IsAssignableFrom<IReadOnlyList<BoardEnvelope>>(result.Events);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => lastSeq + i), events.Select(e => e.Seq));
        Assert.Equal(lastSeq + 50, result.Seq);
        Assert.Empty(again.Received);
    }

    [Fact]
    public async Task A_client_too_far_behind_gets_a_fresh_snapshot()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        await board.PublishAsync(BoardTestData.RoomChanges(room, 1));
        var last = await board.PublishAsync(BoardTestData.RoomChanges(room, 1_100));

        await using var client = factory.Client(tenant.Owner.AccessToken);
        var result = await client.JoinAsync(tenant.ClinicId, lastSeq: 1);

        Assert.Null(result.Events);
        Assert.Equal(last, Assert.IsType<BoardSnapshot>(result.Snapshot).Seq);
        // One step inside the ring still gets events.
        var inside = await client.JoinAsync(tenant.ClinicId, lastSeq: last - 1_000);
        Assert.Equal(1_000, inside.Events!.Count);
    }

    [Fact]
    public async Task A_providers_tablet_shows_connected_then_disconnected_when_it_drops()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var providerUser = await tenant.CreateUserAsync("provider");
        var providerId = await tenant.AddProviderAsync("Dr. Lee", providerUser.UserId);

        await using var wall = factory.Client(tenant.Owner.AccessToken);
        await wall.JoinAsync(tenant.ClinicId);

        var tablet = factory.Client(providerUser.AccessToken, device: "tablet-7");
        await tablet.JoinAsync(tenant.ClinicId);
        await Eventually.TrueAsync(
            () => wall.Received.Any(e => e.Data is ProviderCard { Connection: DeviceConnection.Connected } p && p.ProviderId == providerId),
            "the wall screen sees the tablet connected");
        await Eventually.TrueAsync(
            () => wall.Presence?.Connected.Any(c => c.UserId == providerUser.UserId && c.DeviceId == "tablet-7") == true,
            "presence lists the tablet");

        await tablet.DisposeAsync();
        await Eventually.TrueAsync(
            () => wall.Received.LastOrDefault(
                e => e.Data is ProviderCard p && p.ProviderId == providerId)?.Data is ProviderCard { Connection: DeviceConnection.Disconnected },
            "the wall screen sees the tablet disconnected");
        var snapshot = await factory.Grains.Board(tenant).GetSnapshotAsync();
        Assert.Equal(DeviceConnection.Disconnected, snapshot.Providers.Single(p => p.ProviderId == providerId).Connection);
    }

    [Fact]
    public async Task A_display_link_opens_only_its_clinics_board_until_revoked()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var otherClinic = await tenant.AddClinicAsync();
        using var admin = tenant.ClientFor(tenant.Owner);
        var created = await admin.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/display-links", new { name = "Lobby TV" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var link = await created.ReadJsonAsync<DisplayLinkResponse>();
        Assert.StartsWith("/board#display=", link.Url);

        using var anonymous = factory.CreateClient();
        var exchanged = await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = link.Secret });
        Assert.Equal(HttpStatusCode.OK, exchanged.StatusCode);
        var token = await exchanged.ReadJsonAsync<DisplayTokenResponse>();
        Assert.Equal(tenant.ClinicId, token.ClinicId);

        await using (var screen = factory.Client(token.AccessToken))
        {
            Assert.NotNull((await screen.JoinAsync(tenant.ClinicId)).Snapshot);
            await Assert.ThrowsAsync<HubException>(() => screen.JoinAsync(otherClinic));
        }

        // A display token reads nothing else.
        using var asDisplay = factory.CreateClient(token.AccessToken);
        Assert.Equal(HttpStatusCode.Forbidden, (await asDisplay.GetAsync($"/api/clinics/{tenant.ClinicId}/rooms")).StatusCode);

        var list = await (await admin.GetAsync($"/api/clinics/{tenant.ClinicId}/display-links"))
            .ReadJsonAsync<MedSpa.Api.Infrastructure.Paged<DisplayLinkResponse>>();
        Assert.Null(Assert.Single(list.Items).Secret);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/clinics/{tenant.ClinicId}/display-links/{link.Id}")).StatusCode);
        var refused = await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = link.Secret });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(
            HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = "not-a-key" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = "" })).StatusCode);
    }

    [Fact]
    public async Task Only_admins_create_display_links_and_another_tenants_clinic_is_not_found()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var frontDesk = await tenant.CreateUserAsync("front-desk");
        using var asFrontDesk = tenant.ClientFor(frontDesk);
        Assert.Equal(
            HttpStatusCode.Forbidden, (await asFrontDesk.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/display-links", new { })).StatusCode);
        using var admin = tenant.ClientFor(tenant.Owner);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync($"/api/clinics/{other.ClinicId}/display-links", new { })).StatusCode);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(
            0, await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM display_links WHERE tenant_id = @TenantId", new { tenant.TenantId }));
    }

    [Fact]
    public async Task The_board_survives_reactivation_from_postgres()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        var last = await board.PublishAsync(BoardTestData.RoomChanges(room, 7));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(last, await conn.ExecuteScalarAsync<long>(
            "SELECT last_seq FROM board_states WHERE tenant_id = @TenantId AND clinic_id = @ClinicId", new { tenant.TenantId, tenant.ClinicId }));
        Assert.Equal(7, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM board_events WHERE tenant_id = @TenantId AND clinic_id = @ClinicId", new { tenant.TenantId, tenant.ClinicId }));

        // Force a fresh activation; it must restore the numbering and the log, not start again at 1.
        var management = factory.Grains.GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero);
        var next = await board.PublishAsync(BoardTestData.RoomChanges(room, 1));
        Assert.Equal(last + 1, next);
        var since = await board.GetSinceAsync(0);
        Assert.False(since.SnapshotNeeded);
        Assert.Equal(Enumerable.Range(1, (int)next).Select(i => (long)i), since.Events.Select(e => e.Seq));
    }
}
