using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Appointments;

public sealed class AppointmentsTests(FlowApiFactory factory) : IClassFixture<FlowApiFactory>
{
    [Fact]
    public async Task Create_get_and_list_by_clinic_day_provider_room_and_patient()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();

        var morning = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, room: 0));
        // 23:30 in New York is already the next day in UTC: it must still list under the clinic's own day.
        var late = await world.BookAsync(
            desk, world.Booking(patient: 1, provider: 1, room: 1, start: new DateTimeOffset(2030, 12, 2, 23, 30, 0, TimeSpan.FromHours(-5))));
        var nextDay = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, start: FlowWorld.Day.AddDays(1)));

        var got = await desk.GetAsync($"/api/appointments/{morning}").OkJsonAsync();
        Assert.Equal(world.Patients[0], got.GetProperty("patientId").GetGuid());
        Assert.Equal(world.Rooms[0], got.GetProperty("roomId").GetGuid());
        Assert.Equal("scheduled", got.GetProperty("status").GetString());
        Assert.Equal(30, got.GetProperty("durationMinutes").GetInt32());
        Assert.Equal(FlowWorld.Day.AddMinutes(30), got.GetProperty("end").GetDateTimeOffset());
        Assert.Equal(world.FrontDesk.UserId, got.GetProperty("createdBy").GetGuid());

        var day = await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}&date=2030-12-02").OkJsonAsync();
        Assert.Equal(new[] { morning, late }, Ids(day));
        Assert.Equal(2, day.GetProperty("total").GetInt64());
        Assert.Equal(new[] { nextDay }, Ids(await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}&date=2030-12-03").OkJsonAsync()));
        Assert.Equal(new[] { morning, nextDay }, Ids(await desk.GetAsync($"/api/appointments?providerId={world.Providers[0]}").OkJsonAsync()));
        Assert.Equal(new[] { late }, Ids(await desk.GetAsync($"/api/appointments?roomId={world.Rooms[1]}").OkJsonAsync()));
        Assert.Equal(new[] { morning, nextDay }, Ids(await desk.GetAsync($"/api/appointments?patientId={world.Patients[0]}").OkJsonAsync()));

        var paged = await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}&page=2&pageSize=2").OkJsonAsync();
        Assert.Equal(new[] { nextDay }, Ids(paged));
        Assert.Equal(3, paged.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Overlap_with_the_same_provider_or_room_is_409_naming_the_other_appointment()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var first = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, room: 0));

        // Same provider, 15 minutes into the first appointment, another room.
        var sameProvider = await desk.PostAsJsonAsync("/api/appointments",
            world.Booking(patient: 1, provider: 0, room: 1, start: FlowWorld.Day.AddMinutes(15)), MedSpaApiFactory.Json);
        var problem = await Task.FromResult(sameProvider).ProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(first, problem.GetProperty("conflictingAppointmentId").GetGuid());
        Assert.Equal("provider", problem.GetProperty("conflictOn").GetString());
        Assert.Contains(first.ToString(), problem.GetProperty("detail").GetString());

        // Same room, another provider.
        var sameRoom = await desk.PostAsJsonAsync("/api/appointments",
            world.Booking(patient: 1, provider: 1, room: 0, start: FlowWorld.Day.AddMinutes(-10)), MedSpaApiFactory.Json);
        problem = await Task.FromResult(sameRoom).ProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(first, problem.GetProperty("conflictingAppointmentId").GetGuid());
        Assert.Equal("room", problem.GetProperty("conflictOn").GetString());

        // Back to back is not an overlap (half-open ranges), and a cancelled appointment frees its slot.
        await world.BookAsync(desk, world.Booking(patient: 1, provider: 0, room: 0, start: FlowWorld.Day.AddMinutes(30)));
        await desk.PostAsJsonAsync($"/api/appointments/{first}/cancel", new { reason = "Patient is ill" }, MedSpaApiFactory.Json);
        await world.BookAsync(desk, world.Booking(patient: 2, provider: 0, room: 0, start: FlowWorld.Day.AddMinutes(5), minutes: 20));
    }

    [Fact]
    public async Task Ten_front_desks_booking_the_same_slot_at_once_exactly_one_wins()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 5);
        var clients = Enumerable.Range(0, 10).Select(_ => world.Desk()).ToList();
        using var start = new Barrier(10);

        var responses = await Task.WhenAll(clients.Select((client, i) => Task.Run(async () =>
        {
            start.SignalAndWait();
            return await client.PostAsJsonAsync("/api/appointments",
                world.Booking(patient: i % 5, provider: 0, room: i % 2), MedSpaApiFactory.Json);
        })));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.Created), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        var winner = (await responses.Single(r => r.StatusCode == HttpStatusCode.Created).ReadJsonAsync()).GetProperty("id").GetGuid();
        foreach (var loser in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
        {
            var problem = await loser.ReadJsonAsync();
            Assert.Equal(winner, problem.GetProperty("conflictingAppointmentId").GetGuid());
        }

        var listed = await world.Desk().GetAsync($"/api/appointments?providerId={world.Providers[0]}").OkJsonAsync();
        Assert.Equal(new[] { winner }, Ids(listed));
    }

    [Fact]
    public async Task Reschedule_moves_the_booking_and_the_visit_and_refuses_an_overlap()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var first = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, room: 0));
        var second = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1, room: 1, start: FlowWorld.Day.AddHours(2)));

        var moved = await desk.PostAsJsonAsync($"/api/appointments/{first}/reschedule",
            new { start = FlowWorld.Day.AddHours(1), durationMinutes = 45, roomId = world.Rooms[1] }, MedSpaApiFactory.Json);
        var body = await Task.FromResult(moved).OkJsonAsync();
        Assert.Equal(FlowWorld.Day.AddHours(1), body.GetProperty("start").GetDateTimeOffset());
        Assert.Equal(FlowWorld.Day.AddHours(1.75), body.GetProperty("end").GetDateTimeOffset());
        Assert.Equal(world.Rooms[1], body.GetProperty("roomId").GetGuid());

        var visit = await desk.GetAsync($"/api/visits/{first}").OkJsonAsync();
        Assert.Equal(FlowWorld.Day.AddHours(1), visit.GetProperty("scheduledStart").GetDateTimeOffset());
        Assert.Equal(45, visit.GetProperty("estimatedMinutes").GetInt32());
        Assert.Equal(world.Rooms[1], visit.GetProperty("roomId").GetGuid());

        // Into the second appointment's room and time: refused, nothing changes.
        var clash = await desk.PostAsJsonAsync($"/api/appointments/{first}/reschedule",
            new { start = FlowWorld.Day.AddHours(2).AddMinutes(10) }, MedSpaApiFactory.Json);
        var problem = await Task.FromResult(clash).ProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(second, problem.GetProperty("conflictingAppointmentId").GetGuid());
        var unchanged = await desk.GetAsync($"/api/appointments/{first}").OkJsonAsync();
        Assert.Equal(FlowWorld.Day.AddHours(1), unchanged.GetProperty("start").GetDateTimeOffset());

        await desk.PostJson($"/api/appointments/{first}/reschedule", new { }).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");

        // Once the patient has arrived the booking no longer moves.
        await desk.Visit(first, "check-in").OkJsonAsync();
        var late = desk.PostAsJsonAsync($"/api/appointments/{first}/reschedule", new { durationMinutes = 60 }, MedSpaApiFactory.Json);
        await late.ProblemAsync(HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Cancel_needs_a_reason_and_goes_through_the_visit_no_show_too()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking());
        var other = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1, start: FlowWorld.Day.AddHours(3)));

        var noReason = await desk.PostAsJsonAsync($"/api/appointments/{appointment}/cancel", new { reason = " " }, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(noReason.GetProperty("errors").TryGetProperty("reason", out _));
        Assert.Equal("scheduled", await world.SqlStatusAsync(appointment));

        var cancelled = await desk.PostAsJsonAsync(
            $"/api/appointments/{appointment}/cancel", new { reason = "Rebooking next week" }, MedSpaApiFactory.Json)
            .OkJsonAsync();
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal("Rebooking next week", cancelled.GetProperty("cancelReason").GetString());
        Assert.Equal("cancelled", await world.SqlStatusAsync(appointment));
        var visit = await desk.GetAsync($"/api/visits/{appointment}").OkJsonAsync();
        Assert.Equal("cancelled", visit.GetProperty("status").GetString());

        var again = await desk.PostAsJsonAsync($"/api/appointments/{appointment}/cancel", new { reason = "twice" }, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal("cancelled", again.GetProperty("currentStatus").GetString());

        var noShow = await desk.PostJson($"/api/appointments/{other}/no-show", new { }).OkJsonAsync();
        Assert.Equal("no-show", noShow.GetProperty("status").GetString());
        Assert.Equal("no-show", await world.SqlStatusAsync(other));
    }

    [Fact]
    public async Task Invalid_bookings_are_400_naming_each_field_and_change_nothing()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var stranger = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();

        var missing = await desk.PostAsJsonAsync("/api/appointments", new { notes = "x" }, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var errors = missing.GetProperty("errors");
        foreach (var field in new[] { "clinicId", "patientId", "providerId", "serviceId", "start" })
        {
            Assert.True(errors.TryGetProperty(field, out _), $"{field} not named: {errors}");
        }

        // Another tenant's patient, provider, service and room do not exist here.
        var foreign = await desk.PostJson("/api/appointments", new
        {
            clinicId = world.ClinicId,
            patientId = stranger.Patients[0],
            providerId = stranger.Providers[0],
            serviceId = stranger.ServiceId,
            roomId = stranger.Rooms[0],
            start = FlowWorld.Day,
            durationMinutes = 4,
            priority = 3,
        }).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.True(foreign.GetProperty("errors").TryGetProperty("durationMinutes", out _));
        Assert.True(foreign.GetProperty("errors").TryGetProperty("priority", out _));

        var refs = await desk.PostJson("/api/appointments", new
        {
            clinicId = world.ClinicId,
            patientId = stranger.Patients[0],
            providerId = stranger.Providers[0],
            serviceId = stranger.ServiceId,
            roomId = stranger.Rooms[0],
            start = FlowWorld.Day,
        }).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        foreach (var field in new[] { "patientId", "providerId", "serviceId", "roomId" })
        {
            Assert.True(refs.GetProperty("errors").TryGetProperty(field, out _), $"{field} not named");
        }

        var listed = await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}").OkJsonAsync();
        Assert.Equal(0, listed.GetProperty("total").GetInt64());

        await desk.GetAsync($"/api/appointments?date=2030-12-02").ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}&date=12/02/2030")
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task Another_tenants_appointment_and_visit_are_404_and_roles_are_enforced()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var stranger = await FlowWorld.CreateAsync(factory);
        var appointment = await world.BookAsync(world.Desk(), world.Booking());
        var outsider = stranger.Desk();

        await outsider.GetAsync($"/api/appointments/{appointment}").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await outsider.GetAsync($"/api/visits/{appointment}").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await outsider.Visit(appointment, "check-in").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await outsider.PostAsJsonAsync($"/api/appointments/{appointment}/cancel", new { reason = "mine now" }, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await outsider.GetAsync($"/api/rooms/{world.Rooms[0]}/status").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        await outsider.GetAsync($"/api/clinics/{world.ClinicId}/queue").ProblemAsync(HttpStatusCode.NotFound, "not_found");
        Assert.Equal("scheduled", await world.SqlStatusAsync(appointment));
        Assert.Equal(0, (await outsider.GetAsync("/api/appointments").OkJsonAsync()).GetProperty("total").GetInt64());

        // Providers read the schedule (mine=true: only their own) but do not book.
        var providerUser = await world.Tenant.CreateUserAsync("provider");
        await using (var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(conn, "UPDATE providers SET user_id = @UserId WHERE tenant_id = @TenantId AND id = @id",
                new { providerUser.UserId, world.TenantId, id = world.Providers[1] });
        }

        var theirs = await world.BookAsync(world.Desk(), world.Booking(patient: 1, provider: 1, start: FlowWorld.Day.AddHours(2)));
        var provider = world.Tenant.ClientFor(providerUser);
        Assert.Equal(new[] { appointment, theirs }, Ids(await provider.GetAsync($"/api/appointments?clinicId={world.ClinicId}").OkJsonAsync()));
        Assert.Equal(new[] { theirs }, Ids(await provider.GetAsync("/api/appointments?mine=true").OkJsonAsync()));
        var booking = await provider.PostAsJsonAsync(
            "/api/appointments", world.Booking(patient: 1, provider: 1, start: FlowWorld.Day.AddHours(4)), MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Forbidden, booking.StatusCode);
    }

    private static Guid[] Ids(System.Text.Json.JsonElement page) =>
        [.. page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid())];
}
