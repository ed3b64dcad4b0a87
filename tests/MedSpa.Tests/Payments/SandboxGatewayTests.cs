using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Payments;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedSpa.Tests.Payments;

/// <summary>The sandbox gateway behaves like Stripe's test mode: test cards, declines, reservations, refunds and
/// idempotency keys.</summary>
public sealed class SandboxGatewayTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 9, 0, 0, TimeSpan.Zero));
    private readonly SandboxPaymentGateway _gateway;

    public SandboxGatewayTests() => _gateway = new SandboxPaymentGateway(_time);

    private static string Key() => "test-" + Guid.NewGuid().ToString("N");

    private static Money Usd(long cents) => new(cents, "USD");

    private static PaymentRequest Charge(
        string method, long cents, bool captureLater = false, bool offSession = false, string? customer = null, string? key = null) =>
        new(Usd(cents), method, customer, captureLater, offSession, key ?? Key(), "Botox 20 units",
            new Dictionary<string, string> { ["tenant_id"] = Tenant.ToString("D"), ["invoice_id"] = "i1" });

    /// <summary>One tenant per test, as every caller sends (idempotency keys are the tenant's, like a Stripe account's).</summary>
    private static readonly Guid Tenant = Guid.NewGuid();

    private async Task<string> NewCustomer() =>
        await _gateway.CreateCustomerAsync(new CustomerRequest(Tenant, Guid.NewGuid(), "Ada Lovelace", "ada@example.com", null), Key());

    [Theory]
    [InlineData("pm_card_visa", "visa", CardFunding.Credit, "4242")]
    [InlineData("tok_visa", "visa", CardFunding.Credit, "4242")]
    [InlineData("pm_card_mastercard", "mastercard", CardFunding.Credit, "4444")]
    [InlineData("pm_card_visa_debit", "visa", CardFunding.Debit, "5556")]
    [InlineData("tok_visa_debit", "visa", CardFunding.Debit, "5556")]
    [InlineData("pm_card_amex", "amex", CardFunding.Credit, "0005")]
    [InlineData("pm_card_mastercard_prepaid", "mastercard", CardFunding.Prepaid, "5100")]
    public async Task Test_cards_succeed_and_say_sandbox_with_brand_funding_and_last4(string method, string brand, CardFunding funding, string last4)
    {
        var result = await _gateway.CreatePaymentAsync(Charge(method, 12_50));

        Assert.Equal("sandbox", result.Gateway);
        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        Assert.False(result.IsDeclined);
        Assert.Equal(Usd(12_50), result.Amount);
        Assert.Equal(Usd(12_50), result.AmountCaptured);
        Assert.StartsWith("pi_sandbox_", result.PaymentId, StringComparison.Ordinal);
        Assert.StartsWith("pm_sandbox_", result.PaymentMethodId, StringComparison.Ordinal);
        Assert.NotNull(result.Card);
        Assert.Equal(brand, result.Card.Brand);
        Assert.Equal(funding, result.Card.Funding);
        Assert.Equal(last4, result.Card.Last4);
        Assert.True(result.Card.ExpYear > _time.GetUtcNow().Year, "test cards expire in the future");
        Assert.Equal(CardCheckResult.Pass, result.Card.CvcCheck);
        Assert.Equal(CardCheckResult.Pass, result.Card.PostalCodeCheck);
    }

    [Theory]
    [InlineData("pm_card_chargeDeclined", "generic_decline")]
    [InlineData("tok_chargeDeclined", "generic_decline")]
    [InlineData("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")]
    [InlineData("pm_card_chargeDeclinedExpiredCard", "expired_card")]
    [InlineData("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc")]
    public async Task Decline_cards_come_back_declined_with_the_decline_code_and_nothing_captured(string method, string declineCode)
    {
        var result = await _gateway.CreatePaymentAsync(Charge(method, 80_00));

        Assert.Equal(PaymentStatus.Declined, result.Status);
        Assert.True(result.IsDeclined);
        Assert.Equal(declineCode, result.DeclineCode);
        Assert.False(string.IsNullOrWhiteSpace(result.Message));
        Assert.Equal(Usd(0), result.AmountCaptured);
        Assert.Equal("sandbox", result.Gateway);
        Assert.NotNull(result.PaymentId); // Stripe creates the PaymentIntent even when the card is declined.
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(result.PaymentId!, Usd(1), Key(), null));
    }

    [Fact]
    public async Task Incorrect_cvc_decline_reports_the_failed_cvc_check()
    {
        var result = await _gateway.CreatePaymentAsync(Charge("pm_card_chargeDeclinedIncorrectCvc", 10_00));

        Assert.Equal(CardCheckResult.Fail, result.Card!.CvcCheck);
    }

    [Fact]
    public async Task Cvc_and_postal_code_check_failures_still_charge_but_are_surfaced()
    {
        var cvc = await _gateway.CreatePaymentAsync(Charge("pm_card_cvcCheckFail", 10_00));
        var zip = await _gateway.CreatePaymentAsync(Charge("pm_card_avsZipFail", 10_00));

        Assert.Equal(PaymentStatus.Succeeded, cvc.Status);
        Assert.Equal(CardCheckResult.Fail, cvc.Card!.CvcCheck);
        Assert.Equal(CardCheckResult.Pass, cvc.Card.PostalCodeCheck);
        Assert.Equal(PaymentStatus.Succeeded, zip.Status);
        Assert.Equal(CardCheckResult.Fail, zip.Card!.PostalCodeCheck);
        Assert.Equal(CardCheckResult.Pass, zip.Card.CvcCheck);
    }

    [Fact]
    public async Task Authentication_required_card_needs_action_off_session_and_on_session()
    {
        var off = await _gateway.CreatePaymentAsync(Charge("pm_card_authenticationRequired", 50_00, offSession: true));
        var on = await _gateway.CreatePaymentAsync(Charge("pm_card_authenticationRequired", 50_00));

        Assert.Equal(PaymentStatus.RequiresAction, off.Status);
        Assert.Equal("authentication_required", off.DeclineCode);
        Assert.True(off.IsDeclined);
        Assert.Equal(PaymentStatus.RequiresAction, on.Status);
        Assert.Equal(Usd(0), on.AmountCaptured);
    }

    [Fact]
    public async Task Unknown_payment_method_is_refused_as_not_transient()
    {
        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge("pm_card_doesNotExist", 10_00)));

        Assert.False(error.Transient);
        Assert.Contains("No such PaymentMethod", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reservation_is_captured_partially_and_the_rest_released_then_refunded_in_parts_up_to_the_capture()
    {
        var reserved = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 100_00, captureLater: true));
        Assert.Equal(PaymentStatus.RequiresCapture, reserved.Status);
        Assert.Equal(Usd(0), reserved.AmountCaptured);

        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(reserved.PaymentId!, Usd(100_01), Key()));
        var captured = await _gateway.CaptureAsync(reserved.PaymentId!, Usd(60_00), Key());
        Assert.Equal(PaymentStatus.Succeeded, captured.Status);
        Assert.Equal(Usd(100_00), captured.Amount);
        Assert.Equal(Usd(60_00), captured.AmountCaptured);

        // Captured once: a second capture (new key) is refused like Stripe's unexpected-state error.
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(reserved.PaymentId!, null, Key()));

        var first = await _gateway.RefundAsync(reserved.PaymentId!, Usd(25_00), Key(), "requested_by_customer");
        Assert.Equal(RefundStatus.Succeeded, first.Status);
        Assert.Equal(Usd(25_00), first.Amount);
        Assert.StartsWith("re_sandbox_", first.RefundId, StringComparison.Ordinal);
        Assert.Equal("sandbox", first.Gateway);
        var tooMuch = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(reserved.PaymentId!, Usd(35_01), Key(), null));
        Assert.False(tooMuch.Transient);
        var rest = await _gateway.RefundAsync(reserved.PaymentId!, Usd(35_00), Key(), null);
        Assert.Equal(Usd(35_00), rest.Amount);
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(reserved.PaymentId!, Usd(1), Key(), null));
    }

    [Fact]
    public async Task Full_capture_without_amount_takes_the_whole_reservation()
    {
        var reserved = await _gateway.CreatePaymentAsync(Charge("pm_card_mastercard", 42_00, captureLater: true));

        var captured = await _gateway.CaptureAsync(reserved.PaymentId!, null, Key());

        Assert.Equal(Usd(42_00), captured.AmountCaptured);
    }

    [Fact]
    public async Task Cancel_releases_a_reservation_and_cannot_cancel_a_charge()
    {
        var reserved = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 30_00, captureLater: true));
        var charged = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 30_00));

        var canceled = await _gateway.CancelAsync(reserved.PaymentId!, Key());

        Assert.Equal(PaymentStatus.Canceled, canceled.Status);
        Assert.Equal(Usd(0), canceled.AmountCaptured);
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(reserved.PaymentId!, null, Key()));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CancelAsync(charged.PaymentId!, Key()));
    }

    [Fact]
    public async Task Refund_in_another_currency_is_refused()
    {
        var charged = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 30_00));

        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(charged.PaymentId!, new Money(10_00, "EUR"), Key(), null));
    }

    [Fact]
    public async Task Same_idempotency_key_answers_the_same_payment_and_charges_once()
    {
        var request = Charge("pm_card_visa", 99_00, captureLater: true);

        var first = await _gateway.CreatePaymentAsync(request);
        var again = await _gateway.CreatePaymentAsync(request with { Metadata = new Dictionary<string, string>(request.Metadata) });

        Assert.Equal(first, again);
        // One reservation exists: capturing it once works, and the replayed id is the same reservation.
        await _gateway.CaptureAsync(again.PaymentId!, null, Key());
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(first.PaymentId!, null, Key()));
    }

    [Fact]
    public async Task Same_idempotency_key_with_other_parameters_is_an_idempotency_error()
    {
        var request = Charge("pm_card_visa", 99_00);
        await _gateway.CreatePaymentAsync(request);

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(request with { Amount = Usd(98_00) }));

        Assert.False(error.Transient);
        Assert.Contains("same parameters", error.Message, StringComparison.Ordinal);
        // A key used for one operation cannot be reused for another either.
        var customer = await NewCustomer();
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreateSetupIntentAsync(customer, request.IdempotencyKey));
    }

    [Fact]
    public async Task Replayed_refund_and_capture_do_not_move_money_twice()
    {
        var payment = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 50_00, captureLater: true));
        var captureKey = Key();
        var capture = await _gateway.CaptureAsync(payment.PaymentId!, Usd(50_00), captureKey);
        Assert.Equal(capture, await _gateway.CaptureAsync(payment.PaymentId!, Usd(50_00), captureKey));

        var refundKey = Key();
        var refund = await _gateway.RefundAsync(payment.PaymentId!, Usd(30_00), refundKey, null);
        Assert.Equal(refund, await _gateway.RefundAsync(payment.PaymentId!, Usd(30_00), refundKey, null));

        // Only 30.00 was refunded, so 20.00 remains and 20.01 does not.
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(payment.PaymentId!, Usd(20_01), Key(), null));
        await _gateway.RefundAsync(payment.PaymentId!, Usd(20_00), Key(), null);
    }

    [Fact]
    public async Task Idempotency_keys_are_forgotten_after_24_hours_like_stripe()
    {
        var request = Charge("pm_card_visa", 10_00);
        var first = await _gateway.CreatePaymentAsync(request);

        _time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));
        var later = await _gateway.CreatePaymentAsync(request);

        Assert.NotEqual(first.PaymentId, later.PaymentId);
    }

    [Fact]
    public async Task Customer_setup_intent_attach_list_default_and_remove()
    {
        var customer = await NewCustomer();
        Assert.StartsWith("cus_sandbox_", customer, StringComparison.Ordinal);

        var setup = await _gateway.CreateSetupIntentAsync(customer, Key());
        Assert.StartsWith("seti_", setup.SetupIntentId, StringComparison.Ordinal);
        Assert.StartsWith(setup.SetupIntentId + "_secret_", setup.ClientSecret, StringComparison.Ordinal);
        Assert.Equal("sandbox", setup.Gateway);

        var visa = await _gateway.AttachCardAsync(customer, "pm_card_visa", Key());
        var debit = await _gateway.AttachCardAsync(customer, "pm_card_visa_debit", Key());
        Assert.StartsWith("pm_sandbox_", visa.PaymentMethodId, StringComparison.Ordinal);
        Assert.False(visa.IsDefault);
        Assert.Equal(CardFunding.Debit, debit.Card.Funding);

        // Attaching the same saved method again is a no-op.
        var again = await _gateway.AttachCardAsync(customer, visa.PaymentMethodId, Key());
        Assert.Equal(visa.PaymentMethodId, again.PaymentMethodId);

        await _gateway.SetDefaultCardAsync(customer, visa.PaymentMethodId, Key());
        var cards = await _gateway.ListCardsAsync(customer);
        Assert.Equal([debit.PaymentMethodId, visa.PaymentMethodId], cards.Select(c => c.PaymentMethodId)); // newest first
        Assert.True(cards.Single(c => c.PaymentMethodId == visa.PaymentMethodId).IsDefault);
        Assert.False(cards.Single(c => c.PaymentMethodId == debit.PaymentMethodId).IsDefault);

        await _gateway.RemoveCardAsync(visa.PaymentMethodId, Key());
        var left = await _gateway.ListCardsAsync(customer);
        Assert.Equal(debit.PaymentMethodId, Assert.Single(left).PaymentMethodId);
        Assert.False(left[0].IsDefault);
        // Detaching twice is an error in Stripe, and a detached method cannot be charged.
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RemoveCardAsync(visa.PaymentMethodId, Key()));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge(visa.PaymentMethodId, 10_00, customer: customer)));
    }

    [Fact]
    public async Task Saved_card_is_charged_off_session_with_its_customer_only()
    {
        var customer = await NewCustomer();
        var other = await NewCustomer();
        var card = await _gateway.AttachCardAsync(customer, "pm_card_amex", Key());

        var charged = await _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 75_00, offSession: true, customer: customer));

        Assert.Equal(PaymentStatus.Succeeded, charged.Status);
        Assert.Equal(card.PaymentMethodId, charged.PaymentMethodId);
        Assert.Equal("amex", charged.Card!.Brand);
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 75_00, customer: other)));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 75_00)));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.AttachCardAsync(other, card.PaymentMethodId, Key()));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.SetDefaultCardAsync(other, card.PaymentMethodId, Key()));
    }

    [Fact]
    public async Task Unknown_customer_is_refused()
    {
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreateSetupIntentAsync("cus_nope", Key()));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.ListCardsAsync("cus_nope"));
        await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.AttachCardAsync("cus_nope", "pm_card_visa", Key()));
    }

    [Fact]
    public async Task A_registered_test_card_carries_the_chosen_expiry()
    {
        _gateway.RegisterTestCard("pm_card_expiringNextMonth", SandboxTestCards.Visa with { ExpMonth = 12, ExpYear = 2026, Last4 = "1881" });
        var customer = await NewCustomer();

        var card = await _gateway.AttachCardAsync(customer, "pm_card_expiringNextMonth", Key());

        Assert.Equal((12, 2026, "1881"), (card.Card.ExpMonth, card.Card.ExpYear, card.Card.Last4));
    }

    [Fact]
    public async Task Concurrent_calls_with_one_key_create_one_payment()
    {
        var request = Charge("pm_card_visa", 20_00, captureLater: true);

        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => _gateway.CreatePaymentAsync(request))));

        Assert.Single(results.Select(r => r.PaymentId).Distinct());
    }

    [Fact]
    public void Without_a_stripe_key_the_sandbox_is_registered_once_as_a_singleton()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        var services = new ServiceCollection();
        // Every host registers the database (the sandbox keeps its records there); this one is never opened.
        services.AddSingleton(Npgsql.NpgsqlDataSource.Create("Host=127.0.0.1;Database=unused"));

        services.AddMedSpaPayments(configuration);
        services.AddMedSpaPayments(configuration);

        Assert.Single(services, d => d.ServiceType == typeof(IPaymentGateway));
        using var provider = services.BuildServiceProvider();
        var gateway = provider.GetRequiredService<IPaymentGateway>();
        Assert.IsType<SandboxPaymentGateway>(gateway);
        Assert.Equal("sandbox", gateway.Name);
        Assert.Same(gateway, provider.GetRequiredService<IPaymentGateway>());
    }
}
