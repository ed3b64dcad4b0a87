using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces.Board;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Board.Flow;

public sealed class VisitFlowTests(FlowApiFactory factory) : IClassFixture<FlowApiFactory>
{
    [Fact]
    public async Task A_visit_flows_from_booking_to_checkout_recording_who_and_device_and_the_sql_status_follows()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var room = world.Rooms[0];
        var provider = world.Providers[0];
        var appointment = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0));
        await desk.PostJson($"/api/providers/{provider}/on-duty", new { }).OkJsonAsync();

        var steps = new (string Command, object? Body, string Status, string? Waiting, string Sql)[]
        {
            ("confirm", null, "confirmed", "not-arrived", "confirmed"),
            ("check-in", null, "arrived", "checked-in", "arrived"),
            ("call", new { roomId = room }, "arrived", "room-ready", "arrived"),
            ("seat", null, "in-room", null, "in-progress"),
            ("start", null, "in-progress", null, "in-progress"),
            ("document", null, "documenting", null, "in-progress"),
            ("ready", null, "ready", null, "in-progress"),
            ("complete", null, "completed", null, "completed"),
        };
        foreach (var (command, body, status, waiting, sql) in steps)
        {
            var visit = await desk.Visit(appointment, command, body, device: "desk-tablet-1").OkJsonAsync();
            Assert.Equal(status, visit.GetProperty("status").GetString());
            Assert.Equal(waiting, visit.GetProperty("waiting").ValueKind == JsonValueKind.Null ? null : visit.GetProperty("waiting").GetString());
            Assert.Equal(sql, await world.SqlStatusAsync(appointment));

            if (command == "check-in")
            {
                var queue = await desk.GetAsync($"/api/clinics/{world.ClinicId}/queue").OkJsonAsync();
                var entry = Assert.Single(queue.GetProperty("entries").EnumerateArray());
                Assert.Equal(appointment, entry.GetProperty("visitId").GetGuid());
                Assert.Equal("J.D.", entry.GetProperty("patient").GetString());
            }

            if (command == "seat")
            {
                var card = await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync();
                Assert.Equal("waiting", card.GetProperty("status").GetString());
                Assert.Equal("J.D.", card.GetProperty("patient").GetString());
                Assert.Empty((await desk.GetAsync($"/api/clinics/{world.ClinicId}/queue").OkJsonAsync()).GetProperty("entries").EnumerateArray());
            }

            if (command == "start")
            {
                var card = await desk.GetAsync($"/api/providers/{provider}/status").OkJsonAsync();
                Assert.Equal("in-room", card.GetProperty("status").GetString());
                Assert.Equal(room, card.GetProperty("roomId").GetGuid());
            }
        }

        var final = await desk.GetAsync($"/api/visits/{appointment}").OkJsonAsync();
        var history = final.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["confirm", "check-in", "call-to-room", "seat-in-room", "start-treatment", "start-documenting", "mark-ready", "complete"],
            history.Select(h => h.GetProperty("command").GetString()));
        Assert.All(history, h =>
        {
            Assert.Equal(world.FrontDesk.UserId, h.GetProperty("userId").GetGuid());
            Assert.Equal("desk-tablet-1", h.GetProperty("deviceId").GetString());
        });
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), history.Select(h => h.GetProperty("version").GetInt64()));
        Assert.Empty(final.GetProperty("allowedCommands").EnumerateArray());

        // Checked out: the room waits for cleaning, the provider is free again.
        Assert.Equal("turnover", (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
        Assert.Equal("waiting", (await desk.GetAsync($"/api/providers/{provider}/status").OkJsonAsync()).GetProperty("status").GetString());
        var clean = await desk.PostJson($"/api/rooms/{room}/clean", new { }).OkJsonAsync();
        Assert.Equal("empty", clean.GetProperty("status").GetString());

        // What the board heard, in order: the room's cards through the whole visit, the visit's own events.
        var published = factory.Board.For(world.TenantId, world.ClinicId);
        var roomStatuses = published.Select(p => p.Data).OfType<RoomCard>().Where(c => c.RoomId == room).Select(c => c.Status).ToList();
        Assert.Equal(
            [RoomStatus.Waiting, RoomStatus.InProgress, RoomStatus.Documenting, RoomStatus.Ready, RoomStatus.Turnover, RoomStatus.Empty],
            roomStatuses);
        var visitEvents = published.Where(p => p.Data is VisitFlowEvent e && e.VisitId == appointment).Select(p => p.Event).ToList();
        Assert.Equal(8, visitEvents.Count(e => e == BoardEventNames.VisitStatusChanged));
        Assert.Contains(BoardEventNames.PatientCheckedIn, visitEvents);
        Assert.Contains(BoardEventNames.TreatmentStarted, visitEvents);
        Assert.Contains(BoardEventNames.TreatmentReadyForPayment, visitEvents);
        Assert.Contains(BoardEventNames.TreatmentCompleted, visitEvents);
        var providerStatuses = published.Select(p => p.Data)
            .OfType<ProviderCard>().Where(c => c.ProviderId == provider).Select(c => c.Status).ToList();
        Assert.Equal(
            [ProviderStatus.Waiting, ProviderStatus.InRoom, ProviderStatus.Documenting, ProviderStatus.Ready, ProviderStatus.Waiting],
            providerStatuses);
        Assert.Contains(
            published, p => p.Event == BoardEventNames.QueueUpdated && ((WaitingQueueView)p.Data).Entries.Any(e => e.VisitId == appointment));
    }

    [Fact]
    public async Task Impossible_transitions_are_409_invalid_transition_with_the_current_state_and_missing_input_is_400()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking());

        var refused = await desk.Visit(appointment, "start").ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal("scheduled", refused.GetProperty("currentStatus").GetString());
        // "status" is the problem's HTTP status, once: the visit's state is not written over it.
        Assert.Equal(409, Assert.Single(refused.EnumerateObject(), p => p.Name == "status").Value.GetInt32());
        Assert.Equal("not-arrived", refused.GetProperty("waiting").GetString());
        Assert.Equal(0, refused.GetProperty("version").GetInt64());
        Assert.Contains("confirm", refused.GetProperty("allowedCommands").EnumerateArray().Select(c => c.GetString()));

        await desk.Visit(appointment, "check-in").OkJsonAsync();
        var seat = await desk.Visit(appointment, "seat").ProblemAsync(HttpStatusCode.BadRequest, "room_required");
        Assert.True(seat.GetProperty("errors").TryGetProperty("roomId", out _));
        var unknownRoom = await desk.Visit(appointment, "seat", new { roomId = Guid.NewGuid() })
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(unknownRoom.GetProperty("errors").TryGetProperty("roomId", out _));
        var cancel = await desk.Visit(appointment, "cancel").ProblemAsync(HttpStatusCode.BadRequest, "reason_required");
        Assert.True(cancel.GetProperty("errors").TryGetProperty("reason", out _));

        var complete = await desk.Visit(appointment, "complete").ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal("arrived", complete.GetProperty("currentStatus").GetString());
        Assert.Equal("checked-in", complete.GetProperty("waiting").GetString());
        Assert.Equal(1, complete.GetProperty("version").GetInt64());

        // None of the refusals moved anything.
        var visit = await desk.GetAsync($"/api/visits/{appointment}").OkJsonAsync();
        Assert.Equal(1, visit.GetProperty("version").GetInt64());
        Assert.Single(visit.GetProperty("history").EnumerateArray());
        Assert.Equal("arrived", await world.SqlStatusAsync(appointment));
    }

    [Fact]
    public async Task Two_visits_racing_to_be_seated_in_one_room_one_wins_the_other_gets_room_not_free()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var first = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0));
        var second = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1));
        await desk.Visit(first, "check-in").OkJsonAsync();
        await desk.Visit(second, "check-in").OkJsonAsync();

        using var start = new Barrier(2);
        var responses = await Task.WhenAll(new[] { first, second }.Select(id => Task.Run(async () =>
        {
            var client = world.Desk();
            start.SignalAndWait();
            return (Id: id, Response: await client.Visit(id, "seat", new { roomId = world.Rooms[0] }));
        })));

        var winner = Assert.Single(responses, r => r.Response.StatusCode == HttpStatusCode.OK);
        var loser = Assert.Single(responses, r => r.Response.StatusCode == HttpStatusCode.Conflict);
        Assert.Equal("room_not_free", (await loser.Response.Content.ReadFromJsonAsyncElement()).GetProperty("code").GetString());

        var card = await desk.GetAsync($"/api/rooms/{world.Rooms[0]}/status").OkJsonAsync();
        Assert.Equal(winner.Id, card.GetProperty("visitId").GetGuid());
        Assert.Equal("in-room", (await desk.GetAsync($"/api/visits/{winner.Id}").OkJsonAsync()).GetProperty("status").GetString());
        Assert.Equal("arrived", (await desk.GetAsync($"/api/visits/{loser.Id}").OkJsonAsync()).GetProperty("status").GetString());
        Assert.Equal("arrived", await world.SqlStatusAsync(loser.Id));

        // The loser can take the other room.
        await desk.Visit(loser.Id, "seat", new { roomId = world.Rooms[1] }).OkJsonAsync();
    }

    [Fact]
    public async Task Twenty_identical_commands_at_once_are_accepted_once()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var appointment = await world.BookAsync(world.Desk(), world.Booking());
        var clients = Enumerable.Range(0, 20).Select(_ => world.Desk()).ToList();
        using var start = new Barrier(20);

        var responses = await Task.WhenAll(clients.Select(client => Task.Run(async () =>
        {
            start.SignalAndWait();
            return await client.Visit(appointment, "check-in");
        })));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        var visit = await world.Desk().GetAsync($"/api/visits/{appointment}").OkJsonAsync();
        Assert.Equal(1, visit.GetProperty("version").GetInt64());
        Assert.Single(visit.GetProperty("history").EnumerateArray());
        var queue = await world.Desk().GetAsync($"/api/clinics/{world.ClinicId}/queue").OkJsonAsync();
        Assert.Single(queue.GetProperty("entries").EnumerateArray());
    }

    [Fact]
    public async Task A_command_retried_with_the_same_idempotency_key_gets_the_original_answer()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking());
        var key = Guid.NewGuid().ToString();

        async Task<HttpResponseMessage> CheckIn()
        {
            var request = new HttpRequestMessage(
                HttpMethod.Post, $"/api/visits/{appointment}/check-in") { Content = System.Net.Http.Json.JsonContent.Create(new { }) };
            request.Headers.Add("Idempotency-Key", key);
            return await desk.SendAsync(request);
        }

        var first = await Task.FromResult(await CheckIn()).OkJsonAsync();
        var retried = await Task.FromResult(await CheckIn()).OkJsonAsync();
        Assert.Equal(1, first.GetProperty("version").GetInt64());
        Assert.Equal(1, retried.GetProperty("version").GetInt64());
        // Without the key, the same command is a second check-in, which the flow refuses.
        await desk.Visit(appointment, "check-in").ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Single((await desk.GetAsync($"/api/visits/{appointment}").OkJsonAsync()).GetProperty("history").EnumerateArray());
    }

    [Fact]
    public async Task The_waiting_queue_orders_by_priority_then_arrival()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 3, providers: 3);
        var desk = world.Desk();
        var normal = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, priority: 0));
        var vip = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1, priority: 1));
        var urgent = await world.BookAsync(desk, world.Booking(patient: 2, provider: 2, priority: 2));
        await desk.Visit(normal, "check-in").OkJsonAsync();
        await desk.Visit(vip, "check-in").OkJsonAsync();
        await desk.Visit(urgent, "in-car").OkJsonAsync();

        var queue = await desk.GetAsync($"/api/clinics/{world.ClinicId}/queue").OkJsonAsync();
        var entries = queue.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal([urgent, vip, normal], entries.Select(e => e.GetProperty("visitId").GetGuid()));
        Assert.Equal([1, 2, 3], entries.Select(e => e.GetProperty("position").GetInt32()));
        Assert.Equal("in-car", entries[0].GetProperty("waiting").GetString());
        Assert.All(entries, e => Assert.True(e.GetProperty("minutesWaited").GetInt32() >= 0));

        // Cancelling an arrived patient takes them out of the queue.
        await desk.Visit(vip, "cancel", new { reason = "Felt unwell" }).OkJsonAsync();
        queue = await desk.GetAsync($"/api/clinics/{world.ClinicId}/queue").OkJsonAsync();
        Assert.Equal([urgent, normal], queue.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("visitId").GetGuid()));
    }

    [Fact]
    public async Task Board_refusals_have_one_problem_shape_each_kind_with_the_current_state_only_on_409s()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var room = world.Rooms[0];
        var appointment = await world.BookAsync(desk, world.Booking());

        // Every 400 has the shape of the API's validation failures; every 409 that shape without errors, plus the state.
        var validation = await desk.Visit(appointment, "seat", new { roomId = Guid.NewGuid() })
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var input = Keys(validation);
        var problem = input.Where(k => k != "errors").ToArray();
        Assert.Contains("errors", input);

        var visit409 = await desk.Visit(appointment, "start").ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(With(problem, "allowedCommands", "currentStatus", "version", "waiting"), Keys(visit409));
        var visit400 = await desk.Visit(appointment, "cancel").ProblemAsync(HttpStatusCode.BadRequest, "reason_required");
        Assert.Equal(input, Keys(visit400));
        Assert.Equal(["reason"], visit400.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        Assert.Equal(validation.GetProperty("title").GetString(), visit400.GetProperty("title").GetString());

        var room409 = await desk.PostJson($"/api/rooms/{room}/clean", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(With(problem, "currentStatus"), Keys(room409));
        Assert.Equal("empty", room409.GetProperty("currentStatus").GetString());
        var room400 = await desk.PostJson($"/api/rooms/{room}/out-of-service", new { }).ProblemAsync(HttpStatusCode.BadRequest, "reason_required");
        Assert.Equal(input, Keys(room400));

        var provider409 = await desk.PostJson($"/api/providers/{world.Providers[0]}/off-duty", new { })
            .ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(With(problem, "currentStatus"), Keys(provider409));
        Assert.Equal("offline", provider409.GetProperty("currentStatus").GetString());

        // Archiving a room with a patient in it: a 409 with nothing but the code.
        await desk.Visit(appointment, "check-in").OkJsonAsync();
        await desk.Visit(appointment, "seat", new { roomId = room }).OkJsonAsync();
        var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var occupied = await owner.DeleteAsync($"/api/clinics/{world.ClinicId}/rooms/{room}").ProblemAsync(HttpStatusCode.Conflict, "room_occupied");
        Assert.Equal(problem, Keys(occupied));
        Assert.Equal(appointment, (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("visitId").GetGuid());
    }

    private static string[] Keys(JsonElement problem) => [.. problem.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)];

    private static string[] With(string[] keys, params string[] more) => [.. keys.Concat(more).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Rooms_go_out_of_and_back_into_service_and_providers_take_breaks()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var room = world.Rooms[0];

        var noReason = await desk.PostJson($"/api/rooms/{room}/out-of-service", new { }).ProblemAsync(HttpStatusCode.BadRequest, "reason_required");
        Assert.True(noReason.GetProperty("errors").TryGetProperty("reason", out _));
        var outOfService = await desk.PostJson($"/api/rooms/{room}/out-of-service", new { reason = "Laser head replacement" }).OkJsonAsync();
        Assert.Equal("out-of-service", outOfService.GetProperty("status").GetString());
        Assert.Equal("Laser head replacement", outOfService.GetProperty("outOfServiceReason").GetString());

        var appointment = await world.BookAsync(desk, world.Booking());
        await desk.Visit(appointment, "check-in").OkJsonAsync();
        await desk.Visit(appointment, "seat", new { roomId = room }).ProblemAsync(HttpStatusCode.Conflict, "room_not_free");
        await desk.PostJson($"/api/rooms/{room}/clean", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal("empty", (await desk.PostJson($"/api/rooms/{room}/in-service", new { }).OkJsonAsync()).GetProperty("status").GetString());
        await desk.Visit(appointment, "seat", new { roomId = room }).OkJsonAsync();

        // Providers: a provider manages their own breaks, the front desk anyone's.
        var providerUser = await world.Tenant.CreateUserAsync("provider");
        await using (var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(conn, "UPDATE providers SET user_id = @UserId WHERE tenant_id = @TenantId AND id = @id",
                new { providerUser.UserId, world.TenantId, id = world.Providers[1] });
        }

        var self = world.Tenant.ClientFor(providerUser);
        var offline = await self.PostJson($"/api/providers/{world.Providers[1]}/break/start", new { })
            .ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal("offline", offline.GetProperty("currentStatus").GetString());
        Assert.Equal(409, Assert.Single(offline.EnumerateObject(), p => p.Name == "status").Value.GetInt32());
        await self.PostJson($"/api/providers/{world.Providers[1]}/on-duty", new { }).OkJsonAsync();
        var onBreak = await self.PostJson($"/api/providers/{world.Providers[1]}/break/start", new { }).OkJsonAsync();
        Assert.Equal("break", onBreak.GetProperty("status").GetString());
        await self.PostJson($"/api/providers/{world.Providers[1]}/break/start", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(
            "waiting",
            (await self.PostJson($"/api/providers/{world.Providers[1]}/break/end", new { }).OkJsonAsync()).GetProperty("status").GetString());
        var other = await self.PostJson($"/api/providers/{world.Providers[0]}/on-duty", new { });
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        await desk.PostJson($"/api/providers/{world.Providers[0]}/on-duty", new { }).OkJsonAsync();
        await desk.PostJson($"/api/providers/{world.Providers[0]}/off-duty", new { }).OkJsonAsync();
    }

    [Fact]
    public async Task Device_connection_from_presence_changes_the_provider_card_once()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var provider = world.Providers[0];
        var grain = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IProviderGrain>(BoardKeys.For(world.TenantId, provider));

        await grain.SetDeviceConnectionAsync("tablet-7", DeviceConnection.Connected);
        await grain.SetDeviceConnectionAsync("tablet-7", DeviceConnection.Connected);
        Assert.Equal(DeviceConnection.Connected, (await grain.GetCardAsync())!.Connection);
        await grain.SetDeviceConnectionAsync("phone-2", DeviceConnection.Connected);
        await grain.SetDeviceConnectionAsync("tablet-7", DeviceConnection.Disconnected);
        // Still connected through the phone: the board hears nothing new.
        Assert.Equal(DeviceConnection.Connected, (await grain.GetCardAsync())!.Connection);
        await grain.SetDeviceConnectionAsync("phone-2", DeviceConnection.Disconnected);

        var card = await world.Desk().GetAsync($"/api/providers/{provider}/status").OkJsonAsync();
        Assert.Equal("disconnected", card.GetProperty("connection").GetString());
        var published = factory.Board.For(world.TenantId, world.ClinicId).Select(c => c.Data).OfType<ProviderCard>()
            .Where(c => c.ProviderId == provider).Select(c => c.Connection).ToList();
        Assert.Equal([DeviceConnection.Connected, DeviceConnection.Disconnected], published);
    }
}

internal static class ResponseJson
{
    public static async Task<JsonElement> ReadFromJsonAsyncElement(this HttpContent content) =>
        JsonDocument.Parse(await content.ReadAsStringAsync()).RootElement.Clone();
}
