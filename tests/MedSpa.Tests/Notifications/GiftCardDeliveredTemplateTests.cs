using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.GiftCards.Delivery;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// The <c>gift-card-delivered</c> template (issue 18 §2): a gift card's email is worded by the clinic's template when it
/// has one (subject and text, with the recipient, sender, amount and message placeholders), by the default otherwise;
/// the code, the redemption link and the PDF are always added whatever the wording.
/// </summary>
public sealed class GiftCardDeliveredTemplateTests(GiftCardDeliveryFactory factory) : IClassFixture<GiftCardDeliveryFactory>
{
    [Fact]
    public async Task A_gift_card_email_uses_the_clinics_template_and_always_carries_the_code_and_link()
    {
        var tenant = await TestTenant.CreateAsync(factory, "Glow Aesthetics");
        var owner = tenant.ClientFor(tenant.Owner);
        var url = $"/api/clinics/{tenant.ClinicId}/message-templates/gift-card-delivered";

        // The default wording first.
        var to = Unique("ana");
        var (_, code) = await factory.IssueAsync(tenant, 150_00, Request(to));
        var (mime, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        Assert.Equal("Bea Purchaser sent you a $150.00 gift card for Main clinic", mime.Subject);
        Assert.StartsWith("Hello Ana Recipient,", mime.TextBody, StringComparison.Ordinal);
        Assert.Contains(code, mime.TextBody, StringComparison.Ordinal);

        // An unknown placeholder is refused (a patient's name means nothing to a recipient who is not a patient).
        var (status, problem) = await owner.TrySendAsync(HttpMethod.Put, url, new { subject = "Hi {{patient.firstName}}", body = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("subject", out _));

        await owner.SendAsync(HttpMethod.Put, url, new
        {
            subject = "A {{giftCard.amount}} treat from {{giftCard.from}}",
            body = "Dear {{recipient.name}}, {{clinic.name}} is holding {{giftCard.amount}} for you.{{giftCard.message}}",
        });
        var second = Unique("cy");
        var (_, secondCode) = await factory.IssueAsync(tenant, 75_00, Request(second, message: "Relax!"));
        (mime, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(second));
        Assert.Equal("A $75.00 treat from Bea Purchaser", mime.Subject);
        Assert.StartsWith("Dear Ana Recipient, Main clinic is holding $75.00 for you.", mime.TextBody, StringComparison.Ordinal);
        Assert.Contains("\"Relax!\"", mime.TextBody, StringComparison.Ordinal);
        Assert.Contains(secondCode, mime.TextBody, StringComparison.Ordinal);
        Assert.Contains($"/gift-cards/redeem?org={tenant.TenantId:N}&clinic={tenant.ClinicId:N}#code=", mime.TextBody, StringComparison.Ordinal);
    }
}
