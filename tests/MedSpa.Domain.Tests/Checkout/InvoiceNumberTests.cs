using MedSpa.Grains.Domain.Checkout;

namespace MedSpa.Domain.Tests.Checkout;

public class InvoiceNumberTests
{
    [Theory]
    [InlineData(2025, 1, "INV-2025-0001")]
    [InlineData(2025, 42, "INV-2025-0042")]
    [InlineData(2025, 9999, "INV-2025-9999")]
    [InlineData(2025, 10000, "INV-2025-10000")]
    [InlineData(2026, 1234567, "INV-2026-1234567")]
    public void Formats_and_parses_back(int year, long sequence, string text)
    {
        Assert.Equal(text, InvoiceNumber.Format(year, sequence));
        Assert.Equal(new InvoiceNumber(year, sequence), InvoiceNumber.Parse(text));
        Assert.Equal(text, InvoiceNumber.Parse(text).ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("INV-2025-001")]     // fewer than four digits
    [InlineData("INV-2025-00001")]   // padding beyond four digits is not canonical
    [InlineData("inv-2025-0001")]
    [InlineData("INV-25-0001")]
    [InlineData("INV-2025-0000")]    // sequences start at 1
    [InlineData("INV-0000-0001")]
    [InlineData("INV-2025-12a4")]
    [InlineData("INV-2025_0001")]
    [InlineData("INV-2025-0001 ")]
    [InlineData("INV-2025-99999999999999999999")] // beyond a long
    public void Refuses_anything_else(string? text)
    {
        Assert.False(InvoiceNumber.TryParse(text, out _));
    }

    [Fact]
    public void Sequence_and_year_must_be_valid()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => InvoiceNumber.Format(2025, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => InvoiceNumber.Format(10000, 1));
        Assert.Throws<FormatException>(() => InvoiceNumber.Parse("INV-2025-1"));
    }

    [Fact]
    public void The_year_is_the_clinics_local_year()
    {
        var newYork = TimeZoneInfo.CreateCustomTimeZone("test/utc-5", TimeSpan.FromHours(-5), "UTC-5", "UTC-5");
        var tokyo = TimeZoneInfo.CreateCustomTimeZone("test/utc+9", TimeSpan.FromHours(9), "UTC+9", "UTC+9");
        var instant = new DateTimeOffset(2026, 1, 1, 3, 0, 0, TimeSpan.Zero); // 31 Dec 22:00 in New York
        Assert.Equal("INV-2025-0007", InvoiceNumber.For(instant, newYork, 7).ToString());
        Assert.Equal("INV-2026-0007", InvoiceNumber.For(instant, tokyo, 7).ToString());
        var lateDecemberUtc = new DateTimeOffset(2025, 12, 31, 20, 0, 0, TimeSpan.Zero); // already 1 Jan in Tokyo
        Assert.Equal(2026, InvoiceNumber.For(lateDecemberUtc, tokyo, 1).Year);
    }
}
