using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.OrleansCluster;
using Microsoft.AspNetCore.Mvc.Testing;

namespace MedSpa.Tests.Notifications.Reminders;

/// <summary>
/// Issue 18 §2 "reminders across a restart": a server books an appointment and stops before its reminder is due; a
/// second server on the same database and Orleans service, whose clock is past the reminder's moment, sends it on its
/// own — nobody calls the grain: the durable Orleans reminder fires on the new silo — and exactly once however many
/// times the reminder ticks (every 2 s here) or is run by hand.
/// </summary>
public sealed class AppointmentReminderRestartTests
{
    [Fact]
    public async Task A_reminder_armed_before_a_restart_is_sent_once_by_the_next_server()
    {
        var day = FlowWorld.Day;
        // The first server's clock stands a few seconds before the 48-hour reminder, so its Orleans reminder is armed
        // a few seconds ahead — and this server stops with its clock unmoved: it never sends.
        var first = new ReminderApiFactory(startClock: day.AddHours(-48).AddSeconds(-4));
        await first.InitializeAsync();
        ReminderApiFactory? second = null;
        try
        {
            var (world, phone) = await first.WorldAsync();
            var appointment = await world.BookAsync(world.Desk(), world.Booking(start: day));
            Assert.Equal(day.AddHours(-48), (await first.Reminders(world.TenantId, appointment).GetAsync()).NextDueAt);
            await ((WebApplicationFactory<Program>)first).DisposeAsync();
            Assert.Empty(first.TextsTo(phone));

            second = new ReminderApiFactory(first, day.AddHours(-47));
            await second.InitializeAsync();
            await Eventually.WaitForAsync(() => Task.FromResult(second.TextsTo(phone).Count), n => n > 0, TimeSpan.FromSeconds(30),
                "the reminder to be sent by the restarted server");
            // More ticks of the reminder, and one by hand: still one text.
            var view = await Eventually.WaitForAsync(() => second.Reminders(world.TenantId, appointment).GetAsync(),
                v => v.Sent.Count == 1 && v.NextDueAt == day.AddHours(-2), TimeSpan.FromSeconds(30), "the grain to re-arm for the 2-hour reminder");
            await second.Reminders(world.TenantId, appointment).RunDueAsync();
            Assert.Equal(2880, Assert.Single(view.Sent).OffsetMinutes);
            Assert.Single(second.TextsTo(phone));
        }
        finally
        {
            if (second is not null)
            {
                await ((IAsyncLifetime)second).DisposeAsync();
            }

            await ((IAsyncLifetime)first).DisposeAsync();
            await first.Twilio.DisposeAsync();
        }
    }
}
