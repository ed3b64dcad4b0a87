using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Silo.GiftCards;
using MedSpa.Tests.Receipts;
using SkiaSharp;
using UglyToad.PdfPig;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>The card PDF of every design, read back with PdfPig, and the clinic-local send time.</summary>
public sealed class GiftCardPdfTests
{
    private const string Code = "GC-ABCD-EFGH-JK23";
    private const string Url = "https://gifts.clinic.example/gift-cards/redeem?clinic=0f8fad5bd9cb469fa16570867728950e#code=GC-ABCD-EFGH-JK23";

    [Theory]
    [InlineData(GiftCardDesign.Standard)]
    [InlineData(GiftCardDesign.Birthday)]
    [InlineData(GiftCardDesign.Holiday)]
    [InlineData(GiftCardDesign.Spa)]
    [InlineData(GiftCardDesign.Custom)]
    public void Every_design_prints_the_clinic_amount_recipient_message_and_code_as_text(GiftCardDesign design)
    {
        var image = design == GiftCardDesign.Custom ? TestImages.Jpeg(800, 400, SKColors.Teal) : null;
        var message = "Line one of a long message that wraps over more than one line on the page because it keeps going and going. Enjoy!";
        var pdf = GiftCardPdf.Render(new GiftCardPdfContent("Glow Aesthetics SoHo", new Money(1_234_50, "USD"), Code, "Ana Recipient", "Bea",
            message, design, Url, image, new DateTimeOffset(2031, 6, 30, 12, 0, 0, TimeSpan.Zero)), DateTimeOffset.UnixEpoch);

        using var doc = PdfDocument.Open(pdf);
        var page = Assert.Single(doc.GetPages());
        var text = page.Text;
        Assert.Contains("Glow Aesthetics SoHo", text);
        Assert.Contains("$1,234.50", text);
        Assert.Contains(Code, text);
        Assert.Contains("For Ana Recipient", text);
        Assert.Contains("From Bea", text);
        Assert.Contains("Valid until June 30, 2031", text);
        // The wrapped message, word for word, in print order.
        var words = page.GetWords().Select(w => w.Text).ToList();
        var expected = message.Split(' ');
        var start = words.IndexOf("Line");
        Assert.True(start >= 0, "the message is printed");
        Assert.Equal(expected, words.Skip(start).Take(expected.Length));
        Assert.Equal(design == GiftCardDesign.Custom ? 2 : 1, page.GetImages().Count());
    }

    [Fact]
    public void The_designs_look_different()
    {
        var pages = Enum.GetValues<GiftCardDesign>().Where(d => d != GiftCardDesign.Custom)
            .Select(d => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
                GiftCardPdf.Render(new GiftCardPdfContent("Clinic", new Money(50_00, "USD"), Code, "Ana", null, null, d, Url), DateTimeOffset.UnixEpoch))))
            .ToList();
        Assert.Equal(pages.Count, pages.Distinct().Count());
    }

    [Theory]
    [InlineData("2026-12-24", "09:00", "2026-12-24T14:00:00Z")] // EST, UTC-5
    [InlineData("2027-07-04", "09:00", "2027-07-04T13:00:00Z")] // EDT, UTC-4
    [InlineData("2027-03-14", "02:30", "2027-03-14T07:00:00Z")] // skipped hour: the first wall-clock time that exists (03:00 EDT)
    [InlineData("2026-11-01", "01:30", "2026-11-01T05:30:00Z")] // repeated hour: the first 01:30 (EDT), never late
    public void A_clinic_local_send_time_becomes_the_right_instant(string date, string time, string utc)
    {
        Assert.True(GiftCardDeliverySchedule.TryToUtc(DateOnly.Parse(date, System.Globalization.CultureInfo.InvariantCulture),
            TimeOnly.Parse(time, System.Globalization.CultureInfo.InvariantCulture), "America/New_York", out var at));
        Assert.Equal(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture), at);
        Assert.False(GiftCardDeliverySchedule.TryToUtc(new DateOnly(2026, 1, 1), TimeOnly.MinValue, "Mars/Olympus_Mons", out _));
    }

    [Fact]
    public void Failed_sends_are_retried_after_1_5_and_30_minutes_then_given_up()
    {
        var t = new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
        Assert.Equal(t.AddMinutes(1), GiftCardDeliverySchedule.NextAttempt(t, 1));
        Assert.Equal(t.AddMinutes(5), GiftCardDeliverySchedule.NextAttempt(t, 2));
        Assert.Equal(t.AddMinutes(30), GiftCardDeliverySchedule.NextAttempt(t, 3));
        Assert.Null(GiftCardDeliverySchedule.NextAttempt(t, 4));
    }
}
