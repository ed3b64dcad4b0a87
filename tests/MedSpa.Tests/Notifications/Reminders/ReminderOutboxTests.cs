using Dapper;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Tests.Board.Flow;
using Npgsql;

namespace MedSpa.Tests.Notifications.Reminders;

/// <summary>
/// A reminder's message row is its outbox entry (issue 18 §2): when the server dies between writing the row
/// (<c>queued</c>) and calling Twilio, the next tick finds the row abandoned (queued, no provider id, older than the
/// sender's lease) and resends what it holds, once. A row being handed over right now (within the lease) is not sent
/// again and not taken as sent: the reminder stays pending and is asked about again.
/// </summary>
public sealed class ReminderOutboxTests(RemindersFixture factory) : IClassFixture<RemindersFixture>
{
    private static readonly DateTimeOffset Day = FlowWorld.Day;

    /// <summary>The Twilio client's retries (its default): a lookup answered 503 this many times more is given up.</summary>
    private static readonly int TwilioRetries = new MedSpa.Silo.Notifications.TwilioOptions().MaxRetries;

    private async Task TickAtAsync(FlowWorld world, Guid appointmentId, DateTimeOffset at)
    {
        factory.Clock.SetUtcNow(at);
        await factory.Reminders(world.TenantId, appointmentId).RunDueAsync();
    }

    /// <summary>The row a sender writes before calling Twilio, as a server that died right after left it.</summary>
    private async Task<Guid> LeaveQueuedRowAsync(FlowWorld world, Guid appointmentId, TimeSpan offset, string phone, string body, TimeSpan age)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO notification_messages (tenant_id, id, clinic_id, patient_id, channel, purpose, kind, to_address, body, status,
                                               created_at, updated_at, dedupe_key)
            VALUES (@TenantId, @id, @ClinicId, @patientId, 'sms', 'transactional', 'confirmation-request', @phone, @body, 'queued',
                    now() - @age, now() - @age, @dedupe)
            """,
            new
            {
                world.TenantId, id, world.ClinicId, patientId = world.Patients[0], phone, body, age,
                dedupe = $"appointment-reminder:{appointmentId:N}:{ReminderPlan.Key(Day, offset)}",
            });
        return id;
    }

    private async Task<(string Status, string? ProviderId)> RowAsync(FlowWorld world, Guid id)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.QuerySingleAsync<(string, string?)>(
            "SELECT status, provider_id FROM notification_messages WHERE tenant_id = @TenantId AND id = @id", new { world.TenantId, id });
    }

    [Fact]
    public async Task A_reminder_logged_but_never_handed_to_twilio_is_resent_once_and_one_in_flight_is_not_sent_twice()
    {
        var (world, phone) = await factory.WorldAsync();
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: Day));

        // The 48-hour reminder: its row was written ten minutes ago and Twilio never called (the server died).
        var abandoned = await LeaveQueuedRowAsync(world, appointment, TimeSpan.FromHours(48), phone, "Written before the crash", TimeSpan.FromMinutes(10));
        await TickAtAsync(world, appointment, Day.AddHours(-48));
        await TickAtAsync(world, appointment, Day.AddHours(-47)); // the tick again: nothing more
        Assert.Equal(["Written before the crash"], factory.TextsTo(phone));
        var (_, providerId) = await RowAsync(world, abandoned);
        Assert.NotNull(providerId);

        // The 2-hour reminder: its row was written just now by a sender still talking to Twilio. Not sent again, and
        // not taken as sent: the reminder stays due.
        var inFlight = await LeaveQueuedRowAsync(world, appointment, TimeSpan.FromHours(2), phone, "Being handed over", TimeSpan.Zero);
        await TickAtAsync(world, appointment, Day.AddHours(-2));
        Assert.Single(factory.TextsTo(phone));
        var view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.Single(view.Sent);
        Assert.NotNull(view.NextDueAt);

        // That sender never finished (its lease lapses): the next tick resends it, once.
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE notification_messages SET updated_at = now() - interval '10 minutes' WHERE tenant_id = @TenantId AND id = @inFlight",
                new { world.TenantId, inFlight });
        }

        await TickAtAsync(world, appointment, Day.AddHours(-2).AddMinutes(1));
        await TickAtAsync(world, appointment, Day.AddHours(-1));
        Assert.Equal(["Written before the crash", "Being handed over"], factory.TextsTo(phone));
        view = await factory.Reminders(world.TenantId, appointment).GetAsync();
        Assert.Equal([2880, 120], view.Sent.Select(s => s.OffsetMinutes));
        Assert.Null(view.NextDueAt);
        Assert.NotNull((await RowAsync(world, inFlight)).ProviderId);
    }

    /// <summary>Twilio has no idempotency key: a server that died after Twilio took the message but before its SID was
    /// recorded would text the patient twice on the resend. Twilio's message list is asked first (a message to the number
    /// with the row's body, created since the row): found, its SID is recorded and nothing is sent; Twilio unreachable,
    /// nothing is sent either until it can be asked.</summary>
    [Fact]
    public async Task An_abandoned_reminder_twilio_already_took_is_not_sent_again_and_its_sid_is_recorded()
    {
        var (world, phone) = await factory.WorldAsync();
        factory.Clock.SetUtcNow(Day.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: Day));

        var abandoned = await LeaveQueuedRowAsync(world, appointment, TimeSpan.FromHours(48), phone, "Taken by Twilio, answer lost", TimeSpan.FromMinutes(10));
        var sid = factory.TwilioAcceptedButAnswerLost(phone, "Taken by Twilio, answer lost");
        await TickAtAsync(world, appointment, Day.AddHours(-48));
        await TickAtAsync(world, appointment, Day.AddHours(-47));
        Assert.Empty(factory.TextsTo(phone));
        Assert.Equal(("sent", (string?)sid), await RowAsync(world, abandoned));
        Assert.Contains(factory.Twilio.To(factory.MessagesPath), r => r.Method == "GET" && r.Query.Contains(Uri.EscapeDataString(phone), StringComparison.Ordinal));
        Assert.Equal([2880], (await factory.Reminders(world.TenantId, appointment).GetAsync()).Sent.Select(s => s.OffsetMinutes));

        // The 2-hour one was abandoned too, and Twilio's list cannot be read (503 to the lookup and each of its retries).
        var second = await LeaveQueuedRowAsync(world, appointment, TimeSpan.FromHours(2), phone, "Unknown at Twilio", TimeSpan.FromMinutes(10));
        for (var i = 0; i <= TwilioRetries; i++)
        {
            factory.Twilio.Enqueue(factory.MessagesPath, new CannedAnswer(503, """{"code":20503,"message":"Service unavailable","status":503}"""));
        }

        await TickAtAsync(world, appointment, Day.AddHours(-2));
        Assert.Empty(factory.TextsTo(phone));
        Assert.Equal("queued", (await RowAsync(world, second)).Status);

        // Twilio back (and the lookup's lease over): it never had the message, so it is sent now, once.
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE notification_messages SET updated_at = now() - interval '10 minutes' WHERE tenant_id = @TenantId AND id = @second",
                new { world.TenantId, second });
        }

        await TickAtAsync(world, appointment, Day.AddHours(-2).AddMinutes(1));
        await TickAtAsync(world, appointment, Day.AddHours(-1));
        Assert.Equal(["Unknown at Twilio"], factory.TextsTo(phone));
    }
}
