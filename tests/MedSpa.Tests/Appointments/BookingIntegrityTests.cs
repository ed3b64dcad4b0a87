using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Appointments;

/// <summary>
/// A patient is in one chair at a time unless the booking says otherwise, and every id in a body names an object of
/// the caller's own organisation.
/// </summary>
public sealed class BookingIntegrityTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task The_same_patient_with_two_providers_at_once_is_409_naming_the_other_appointment_unless_allowed()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var first = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0));

        // Starts 15 minutes into the first one, with the other provider.
        var clash = Booking(world, patient: 0, provider: 1, start: FlowWorld.Day.AddMinutes(15));
        var refused = await desk.PostAsJsonAsync("/api/appointments", clash, MedSpaApiFactory.Json).ProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(first, refused.GetProperty("conflictingAppointmentId").GetGuid());
        Assert.Equal("patient", refused.GetProperty("conflictOn").GetString());
        Assert.Contains(first.ToString(), refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync(world));

        // Back to back is not an overlap; another patient at the same time is not either.
        await world.BookAsync(desk, Booking(world, patient: 0, provider: 0, start: FlowWorld.Day.AddMinutes(30)));
        await world.BookAsync(desk, Booking(world, patient: 1, provider: 1, start: FlowWorld.Day.AddHours(-1)));

        clash["allowOverlap"] = true;
        await world.BookAsync(desk, clash);
        Assert.Equal(4, await CountAsync(world));

        // A cancelled appointment holds nothing.
        var cancelled = await world.BookAsync(desk, Booking(world, patient: 2, provider: 0, start: FlowWorld.Day.AddHours(3)));
        await desk.PostAsJsonAsync($"/api/appointments/{cancelled}/cancel", new { reason = "rebooked" }, MedSpaApiFactory.Json).OkJsonAsync();
        await world.BookAsync(desk, Booking(world, patient: 2, provider: 1, start: FlowWorld.Day.AddHours(3)));
    }

    [Fact]
    public async Task A_reschedule_into_the_patients_other_appointment_is_409_unless_allowed()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var first = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0));
        var second = await world.BookAsync(desk, Booking(world, patient: 0, provider: 1, start: FlowWorld.Day.AddHours(2)));

        var move = new JsonObject { ["start"] = FlowWorld.Day.AddMinutes(10).ToString("O") };
        var refused = await desk.PostAsJsonAsync($"/api/appointments/{second}/reschedule", move, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.Conflict, "conflict");
        Assert.Equal(first, refused.GetProperty("conflictingAppointmentId").GetGuid());
        Assert.Equal("patient", refused.GetProperty("conflictOn").GetString());

        move["allowOverlap"] = true;
        var moved = await desk.PostAsJsonAsync($"/api/appointments/{second}/reschedule", move, MedSpaApiFactory.Json).OkJsonAsync();
        Assert.Equal(FlowWorld.Day.AddMinutes(10), moved.GetProperty("start").GetDateTimeOffset());
    }

    [Fact]
    public async Task Concurrent_bookings_of_one_patient_with_different_providers_give_exactly_one_appointment()
    {
        var world = await FlowWorld.CreateAsync(factory, providers: 2);
        using var a = world.Desk();
        using var b = world.Desk();
        var responses = await Task.WhenAll(
            a.PostAsJsonAsync("/api/appointments", Booking(world, patient: 0, provider: 0, start: FlowWorld.Day), MedSpaApiFactory.Json),
            b.PostAsJsonAsync("/api/appointments", Booking(world, patient: 0, provider: 1, start: FlowWorld.Day), MedSpaApiFactory.Json));
        Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], responses.Select(r => r.StatusCode).Order().ToArray());
        Assert.Equal(1, await CountAsync(world));
    }

    [Fact]
    public async Task Ids_of_another_organisation_in_a_body_are_refused_naming_the_field()
    {
        var mine = await FlowWorld.CreateAsync(factory);
        var theirs = await FlowWorld.CreateAsync(factory);
        using var owner = mine.Tenant.ClientFor(mine.Tenant.Owner);
        var desk = mine.Desk();

        foreach (var (field, foreign) in new (string, Guid)[]
                 {
                     ("clinicId", theirs.ClinicId), ("patientId", theirs.Patients[0]), ("providerId", theirs.Providers[0]),
                     ("serviceId", theirs.ServiceId), ("roomId", theirs.Rooms[0]),
                 })
        {
            var booking = Booking(mine, patient: 0, provider: 0, start: FlowWorld.Day);
            booking[field] = foreign;
            await ExpectFieldAsync(await desk.PostAsJsonAsync("/api/appointments", booking, MedSpaApiFactory.Json), field);
        }

        Assert.Equal(0, await CountAsync(mine));
        var appointment = await mine.BookAsync(desk, mine.Booking());
        await ExpectFieldAsync(await desk.PostAsJsonAsync($"/api/appointments/{appointment}/reschedule",
            new { providerId = theirs.Providers[0] }, MedSpaApiFactory.Json), "providerId");
        await ExpectFieldAsync(await desk.PostAsJsonAsync($"/api/appointments/{appointment}/reschedule",
            new { roomId = theirs.Rooms[0] }, MedSpaApiFactory.Json), "roomId");

        await desk.Visit(appointment, "check-in").OkJsonAsync();
        await ExpectFieldAsync(await desk.Visit(appointment, "seat", new { roomId = theirs.Rooms[0] }), "roomId");

        await ExpectFieldAsync(await owner.PostAsJsonAsync("/api/patients",
            new { firstName = "Ann", lastName = "Lee", preferredClinicId = theirs.ClinicId }, MedSpaApiFactory.Json), "preferredClinicId");
        await ExpectFieldAsync(await owner.PostAsJsonAsync("/api/providers",
            new { firstName = "Ana", lastName = "R", displayName = "Ana R", title = "np", color = "#7c3aed", clinicIds = new[] { theirs.ClinicId } },
            MedSpaApiFactory.Json), "clinicIds");
        await ExpectFieldAsync(await owner.PostAsJsonAsync("/api/providers",
            new { firstName = "Ana", lastName = "R", displayName = "Ana R", title = "np", color = "#7c3aed", clinicIds = new[] { mine.ClinicId },
                userId = theirs.FrontDesk.UserId },
            MedSpaApiFactory.Json), "userId");

        // Nothing of theirs changed hands.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0L, await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM appointments WHERE tenant_id = @TenantId", new { theirs.TenantId }));
        Assert.Equal("arrived", await mine.SqlStatusAsync(appointment)); // checked in, never seated
    }

    private static JsonObject Booking(FlowWorld world, int patient, int provider, DateTimeOffset start, int minutes = 30) =>
        JsonSerializer.SerializeToNode(
            world.Booking(patient: patient, provider: provider, start: start, minutes: minutes), MedSpaApiFactory.Json)!.AsObject();

    private static async Task ExpectFieldAsync(HttpResponseMessage response, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"Expected 400 for {field}, got {(int)response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"The problem does not name '{field}': {text}");
    }

    private async Task<int> CountAsync(FlowWorld world)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM appointments WHERE tenant_id = @TenantId AND status <> 'cancelled'",
            new { world.TenantId });
    }
}
