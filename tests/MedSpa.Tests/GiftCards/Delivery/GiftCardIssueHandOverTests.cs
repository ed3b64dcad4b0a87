using System.Text.RegularExpressions;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Tests.Cluster;
using MedSpa.Tests.GiftCards.Corporate;
using MedSpa.Tests.Memberships;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>
/// Issue 19 §1: issuing a card with a delivery is two grains: the card saves itself (paid, its code drawn), then hands the
/// encrypted code to its delivery grain. A silo dying between the two must not leave a paid card whose code nobody can
/// ever get: the retried issue (same operation id) or the card's next activation hands the delivery over, once. The
/// delivery grain registers its reminder before it saves what the reminder runs, and a repeated schedule arranges the
/// run again, so a saved delivery is never left without anything to send it.
/// </summary>
public sealed partial class GiftCardDeliveryTests
{
    private static SiloUnavailableException ScheduleLost() => new("The silo died before the delivery was scheduled (injected).");

    private static GiftCardIssue Issue(TestTenant tenant, Guid cardId, GiftCardDeliveryRequest delivery) => new(
        "issue-" + cardId.ToString("N"), GiftCardSource.OnlineSale, Usd(80_00), Usd(0), tenant.ClinicId, "America/New_York",
        null, null, delivery, null, null, null, null, "pi_test_" + cardId.ToString("N")[..8], tenant.Owner.UserId, DateTimeOffset.UtcNow);

    /// <summary>The code the recipient got (in the redemption link of the email) is the card's.</summary>
    private async Task AssertMailedCodeIsTheCardsAsync(TestTenant tenant, Guid cardId, string to)
    {
        var (mime, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        var code = Regex.Match(mime.TextBody ?? "", "#code=([A-Za-z0-9-]+)").Groups[1].Value;
        Assert.NotEmpty(code);
        var hash = factory.Services.GetRequiredService<IGiftCardCodeProtector>().Hash(tenant.TenantId, code);
        Assert.Equal(cardId, await factory.Services.GetRequiredService<IGiftCardStore>().FindByCodeHashAsync(tenant.TenantId, hash));
    }

    [Fact]
    public async Task A_card_whose_delivery_was_not_scheduled_is_delivered_once_by_its_retried_issue_or_its_next_activation()
    {
        var tenant = await TestTenant.CreateAsync(factory);

        // 1. The issue's call to the delivery grain fails: the card is saved (paid), its delivery not.
        var to = Unique("retried");
        var cardId = Guid.NewGuid();
        var card = factory.Card(tenant.TenantId, cardId);
        factory.Faults.FailNext(tenant.TenantId, "ScheduleAsync", ScheduleLost());
        await Assert.ThrowsAnyAsync<Exception>(() => card.IssueAsync(Issue(tenant, cardId, Request(to))));
        Assert.NotNull((await card.GetAsync()).Card);
        Assert.Null(await factory.Delivery(tenant.TenantId, cardId).GetAsync());

        // The caller's retry (the invoice's redelivery, the corporate order's resume) is answered as done (never the code
        // again) only once the delivery grain has it: the recipient gets the code, once.
        var again = await card.IssueAsync(Issue(tenant, cardId, Request(to)));
        Assert.Null(again.Refusal);
        Assert.Null(again.Code);
        await AssertMailedCodeIsTheCardsAsync(tenant, cardId, to);
        await card.IssueAsync(Issue(tenant, cardId, Request(to)));
        var delivered = await OrleansCluster.Eventually.WaitForAsync(factory.Delivery(tenant.TenantId, cardId).GetAsync,
            v => v!.Status == GiftCardDeliveryStatus.Sent, TimeSpan.FromSeconds(60), "the delivery sent");
        Assert.Equal(1, delivered!.Attempts);
        Assert.Equal(1, factory.Smtp.MailsTo(to));

        // 2. Nobody retries: the card's next activation hands its saved delivery over.
        var to2 = Unique("activated");
        var cardId2 = Guid.NewGuid();
        factory.Faults.FailNext(tenant.TenantId, "ScheduleAsync", ScheduleLost());
        await Assert.ThrowsAnyAsync<Exception>(() => factory.Card(tenant.TenantId, cardId2).IssueAsync(Issue(tenant, cardId2, Request(to2))));
        Assert.Null(await factory.Delivery(tenant.TenantId, cardId2).GetAsync());
        await factory.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.NotNull((await factory.Card(tenant.TenantId, cardId2).GetAsync()).Card); // activates it
        await AssertMailedCodeIsTheCardsAsync(tenant, cardId2, to2);

        // The late retry of that issue schedules nothing more.
        Assert.Null((await factory.Card(tenant.TenantId, cardId2).IssueAsync(Issue(tenant, cardId2, Request(to2)))).Refusal);
        var sent = await OrleansCluster.Eventually.WaitForAsync(factory.Delivery(tenant.TenantId, cardId2).GetAsync,
            v => v!.Status == GiftCardDeliveryStatus.Sent, TimeSpan.FromSeconds(60), "the second delivery sent");
        Assert.Equal(1, sent!.Attempts);
        Assert.Equal(1, factory.Smtp.MailsTo(to2));
    }

    [Fact]
    public async Task A_delivery_whose_reminder_was_refused_or_lost_is_still_sent_at_its_time()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var sendAt = factory.Clock.GetUtcNow().AddDays(2);

        // 1. Reminders refused (the database away for that row) while the card is issued: nothing may be saved that no
        // reminder runs. The retried issue schedules it, with its reminder.
        var to = Unique("refused");
        var cardId = Guid.NewGuid();
        var card = factory.Card(tenant.TenantId, cardId);
        await using (await RemindersRefused.ForAsync(factory.ConnectionString, cardId))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => card.IssueAsync(Issue(tenant, cardId, Request(to, sendAt))));
        }

        Assert.Null((await card.IssueAsync(Issue(tenant, cardId, Request(to, sendAt)))).Refusal);
        Assert.Equal(GiftCardDeliveryStatus.Scheduled, (await factory.Delivery(tenant.TenantId, cardId).GetAsync())!.Status);
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, cardId)); // cards do not expire here: the delivery's

        // 2. The delivery saved, its answer lost, and the silo gone before its reminder was written (the row removed): the
        // card's retry schedules again, and that repeat arranges the run.
        var to2 = Unique("lost");
        var cardId2 = Guid.NewGuid();
        var card2 = factory.Card(tenant.TenantId, cardId2);
        factory.Faults.LoseNextAnswers(tenant.TenantId, "ScheduleAsync", ScheduleLost());
        await Assert.ThrowsAnyAsync<Exception>(() => card2.IssueAsync(Issue(tenant, cardId2, Request(to2, sendAt))));
        await CorporateOrders.ScalarAsync<long>(factory, "WITH d AS (DELETE FROM orleans_reminders WHERE grain_id LIKE @pattern RETURNING 1) SELECT count(*) FROM d",
            new { pattern = $"%{cardId2:N}%" });
        Assert.Equal(0, await RemindersRefused.CountAsync(factory.ConnectionString, cardId2));
        Assert.Null((await card2.IssueAsync(Issue(tenant, cardId2, Request(to2, sendAt)))).Refusal);
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, cardId2));

        // At the send time the reminder's tick sends each card once.
        factory.Clock.MoveTo(sendAt + TimeSpan.FromSeconds(1));
        await factory.TickAsync(tenant.TenantId, cardId);
        await factory.TickAsync(tenant.TenantId, cardId2);
        await AssertMailedCodeIsTheCardsAsync(tenant, cardId, to);
        await AssertMailedCodeIsTheCardsAsync(tenant, cardId2, to2);
        Assert.Equal((1, 1), (factory.Smtp.MailsTo(to), factory.Smtp.MailsTo(to2)));
    }
}
