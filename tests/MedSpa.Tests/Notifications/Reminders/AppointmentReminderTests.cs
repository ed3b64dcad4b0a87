using System.Net;
using System.Net.Http.Json;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications.Reminders;

/// <summary>
/// Issue 18 §2 appointment reminders through the public API: an appointment booked through <c>/api/appointments</c>
/// gets its reminders at the clinic's offsets (48 h and 2 h by default), each sent once however often its tick runs;
/// a rescheduled appointment's reminders follow the new time only; a cancelled one's stop; quiet hours defer a reminder
/// to their end; an opted-out channel falls back to email. Ticks are the grain's reminder entry point after the fake
/// clock was moved (what the Orleans reminder calls), asserting what the Twilio stand-in received.
/// </summary>
public sealed class AppointmentReminderTests(RemindersFixture factory) : IClassFixture<RemindersFixture>
{
    // FlowWorld.Day: Monday 2 December 2030, 10:00 in New York (15:00 UTC). Each test books its own tenant.
    private static readonly DateTimeOffset Day = FlowWorld.Day;

    private async Task TickAtAsync(FlowWorld world, Guid appointmentId, DateTimeOffset at)
    {
        factory.Clock.SetUtcNow(at);
        await factory.Reminders(world.TenantId, appointmentId).RunDueAsync();
    }

    [Fact]
    public async Task Each_offset_is_sent_once_by_sms_in_the_clinic_time_zone()
    {
        var (world, phone) = await factory.WorldAsync();
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: Day));
        var view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.Equal(Day.AddHours(-48), view.NextDueAt);

        await TickAtAsync(world, appointment, Day.AddHours(-49));
        Assert.Empty(factory.TextsTo(phone));

        await TickAtAsync(world, appointment, Day.AddHours(-48));
        await TickAtAsync(world, appointment, Day.AddHours(-47)); // the same offset's tick again: nothing more
        var first = Assert.Single(factory.TextsTo(phone));
        // Not confirmed yet: the reminder asks for a confirmation, with the date and time as the clinic sees them.
        Assert.Contains("reply C to confirm", first, StringComparison.Ordinal);
        Assert.Contains("Monday, December 2, 2030 at 10:00 AM", first, StringComparison.Ordinal);
        Assert.Contains("Botox", first, StringComparison.Ordinal);

        view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.Equal(Day.AddHours(-2), view.NextDueAt);
        await TickAtAsync(world, appointment, Day.AddHours(-2));
        await TickAtAsync(world, appointment, Day.AddMinutes(-30));
        Assert.Equal(2, factory.TextsTo(phone).Count);

        view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.Null(view.NextDueAt);
        Assert.Equal([2880, 120], view.Sent.Select(s => s.OffsetMinutes));
        Assert.All(view.Sent, s => Assert.Equal("sms", s.Channel));
        // The patient's history shows both.
        var history = await world.Desk().SendAsync(HttpMethod.Get, $"/api/patients/{world.Patients[0]}/messages", null);
        Assert.Equal(2, history.GetProperty("items").EnumerateArray().Count(m => m.GetProperty("kind").GetString() == "confirmation-request"));
    }

    [Fact]
    public async Task A_rescheduled_appointment_is_reminded_for_its_new_time_only()
    {
        var (world, phone) = await factory.WorldAsync();
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking(start: Day));
        var moved = Day.AddDays(3).AddHours(4); // Thursday 14:00: its 48-hour reminder comes after the old 2-hour one
        await desk.SendAsync(HttpMethod.Post, $"/api/appointments/{appointment}/reschedule", new { start = moved });

        await TickAtAsync(world, appointment, Day.AddHours(-48));
        await TickAtAsync(world, appointment, Day.AddHours(-2));
        Assert.Empty(factory.TextsTo(phone));

        await TickAtAsync(world, appointment, moved.AddHours(-48));
        var text = Assert.Single(factory.TextsTo(phone));
        Assert.Contains("Thursday, December 5, 2030 at 2:00 PM", text, StringComparison.Ordinal);
        await TickAtAsync(world, appointment, moved.AddHours(-2));
        Assert.Equal(2, factory.TextsTo(phone).Count);
    }

    [Fact]
    public async Task A_cancelled_appointment_is_not_reminded()
    {
        var (world, phone) = await factory.WorldAsync();
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking(start: Day));
        await desk.SendAsync(HttpMethod.Post, $"/api/appointments/{appointment}/cancel", new { reason = "patient called" });

        await TickAtAsync(world, appointment, Day.AddHours(-48));
        await TickAtAsync(world, appointment, Day.AddHours(-2));
        Assert.Empty(factory.TextsTo(phone));
        var view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.True(view.Cancelled);
        Assert.Null(view.NextDueAt);
    }

    [Fact]
    public async Task A_reminder_due_in_quiet_hours_waits_until_they_end()
    {
        var (world, phone) = await factory.WorldAsync();
        using var admin = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("admin"));
        // 2 h 30 before 10:00 is 07:30 in New York, inside the default quiet hours (21:00–08:00).
        var settings = await admin.SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/notification-settings",
            new { reminderOffsetMinutes = new[] { 150 }, quietHoursStart = "21:00", quietHoursEnd = "08:00" });
        Assert.False(settings.GetProperty("isDefault").GetBoolean());
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: Day));
        var eight = Day.AddHours(-2); // 08:00 New York
        Assert.Equal(eight, (await factory.Reminders(world.TenantId, appointment).GetAsync()).NextDueAt);

        await TickAtAsync(world, appointment, Day.AddMinutes(-150));
        Assert.Empty(factory.TextsTo(phone));
        await TickAtAsync(world, appointment, eight);
        Assert.Single(factory.TextsTo(phone));
    }

    [Fact]
    public async Task An_sms_opt_out_sends_the_reminder_by_email_and_a_full_opt_out_sends_nothing()
    {
        var (world, phone) = await factory.WorldAsync();
        var patient = world.Patients[0];
        await factory.ExecuteAsync("INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source) VALUES (@TenantId, @patient, 'sms', 'staff')",
            new { world.TenantId, patient });
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: Day));
        await TickAtAsync(world, appointment, Day.AddHours(-48));
        Assert.Empty(factory.TextsTo(phone));
        var sent = Assert.Single((await factory.Reminders(world.TenantId, appointment).GetAsync()).Sent);
        Assert.Equal("email", sent.Channel);
        Assert.Equal(1L, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM notification_messages WHERE tenant_id = @TenantId AND patient_id = @patient AND channel = 'email'",
            new { world.TenantId, patient }));

        await factory.ExecuteAsync("INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source) VALUES (@TenantId, @patient, 'email', 'staff')",
            new { world.TenantId, patient });
        await TickAtAsync(world, appointment, Day.AddHours(-2));
        var refused = (await factory.Reminders(world.TenantId, appointment).GetAsync()).Sent[1];
        Assert.Null(refused.MessageId);
        Assert.Equal("notification_opted_out", refused.RefusalCode);
        Assert.Equal(1L, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM notification_messages WHERE tenant_id = @TenantId AND patient_id = @patient", new { world.TenantId, patient }));
    }

    [Fact]
    public async Task Settings_are_validated_and_reset_to_the_defaults()
    {
        var (world, _) = await factory.WorldAsync();
        using var admin = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("admin"));
        var url = $"/api/clinics/{world.ClinicId}/notification-settings";
        var defaults = await admin.SendAsync(HttpMethod.Get, url, null);
        Assert.True(defaults.GetProperty("isDefault").GetBoolean());
        Assert.Equal([2880, 120], defaults.GetProperty("reminderOffsetMinutes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("America/New_York", defaults.GetProperty("timeZone").GetString());

        foreach (var (body, field) in new (object, string)[]
        {
            (new { reminderOffsetMinutes = Array.Empty<int>() }, "reminderOffsetMinutes"),
            (new { reminderOffsetMinutes = new[] { 5 } }, "reminderOffsetMinutes"),
            (new { reminderOffsetMinutes = new[] { 120, 120 } }, "reminderOffsetMinutes"),
            (new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = "25:00", quietHoursEnd = "08:00" }, "quietHoursStart"),
            (new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = "21:00" }, "quietHoursEnd"),
        })
        {
            var problem = await admin.PutAsJsonAsync(url, body, MedSpaApiFactory.Json).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }

        Assert.True((await admin.SendAsync(HttpMethod.Get, url, null)).GetProperty("isDefault").GetBoolean());
        var none = await admin.SendAsync(HttpMethod.Put, url, new { reminderOffsetMinutes = new[] { 60, 1440 } });
        Assert.Equal([1440, 60], none.GetProperty("reminderOffsetMinutes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, none.GetProperty("quietHoursStart").ValueKind);
        using var desk = world.Desk();
        using var forbidden = await desk.PutAsJsonAsync(url, new { reminderOffsetMinutes = new[] { 60 } }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.True((await admin.SendAsync(HttpMethod.Delete, url, null)).GetProperty("isDefault").GetBoolean());
    }
}

/// <summary>Issue 18 §2 consent per channel: staff read and change a patient's consent through the API, and nothing is
/// sent on a channel the patient is opted out of (each channel), transactional or marketing.</summary>
public sealed class PatientConsentTests(RemindersFixture factory) : IClassFixture<RemindersFixture>
{
    [Fact]
    public async Task Staff_opt_a_patient_out_per_channel_and_nothing_is_sent_on_it()
    {
        var (world, phone) = await factory.WorldAsync();
        var patient = world.Patients[0];
        using var desk = world.Desk();
        var url = $"/api/patients/{patient}/consent";
        var consent = await desk.SendAsync(HttpMethod.Get, url, null);
        Assert.False(consent.GetProperty("marketing").GetBoolean());
        Assert.All(consent.GetProperty("channels").EnumerateArray(), c => Assert.True(c.GetProperty("allowed").GetBoolean()));

        consent = await desk.SendAsync(HttpMethod.Put, url, new { marketing = true, channels = new { sms = false, email = false, push = false } });
        Assert.True(consent.GetProperty("marketing").GetBoolean());
        Assert.All(consent.GetProperty("channels").EnumerateArray(), c =>
        {
            Assert.False(c.GetProperty("allowed").GetBoolean());
            Assert.Equal("staff", c.GetProperty("source").GetString());
        });

        foreach (var channel in new[] { "sms", "email", "push" })
        {
            foreach (var purpose in new[] { "transactional", "marketing" })
            {
                var refused = await desk.PostAsJsonAsync($"/api/patients/{patient}/messages",
                    new { channel, purpose, subject = "Hello", body = "A message", clinicId = world.ClinicId }, MedSpaApiFactory.Json)
                    .ProblemAsync(HttpStatusCode.Conflict, "notification_opted_out");
                Assert.Equal(channel, refused.GetProperty("channel").GetString());
            }
        }

        Assert.Empty(factory.TextsTo(phone));
        Assert.Equal(0L, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM notification_messages WHERE tenant_id = @TenantId AND patient_id = @patient", new { world.TenantId, patient }));

        consent = await desk.SendAsync(HttpMethod.Put, url, new { channels = new { sms = true } });
        Assert.True(consent.GetProperty("channels").EnumerateArray().Single(c => c.GetProperty("channel").GetString() == "sms").GetProperty("allowed").GetBoolean());
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patient}/messages",
            new { channel = "sms", body = "Back in", clinicId = world.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(["Back in"], factory.TextsTo(phone));

        await desk.PutAsJsonAsync(url, new { channels = new { fax = false } }, MedSpaApiFactory.Json).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        var other = await FlowWorld.CreateAsync(factory, patients: 1, providers: 0, rooms: 0);
        using var stranger = other.Desk();
        using var notFound = await stranger.GetAsync(url);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
    }
}
