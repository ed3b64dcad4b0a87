using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Payments;
using MedSpa.Tests.Payments.StripeMock;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.Payments;

/// <summary>
/// The Stripe adapter against a loopback server that answers like Stripe's API: what is sent (form fields, keys,
/// idempotency keys, retries), and how answers, declines and failures come back.
/// </summary>
public sealed class StripeGatewayTests : IAsyncLifetime, IDisposable
{
    private readonly CapturingLoggerProvider _logs = new();
    private StripeMockServer _stripe = null!;
    private ServiceProvider _services = null!;
    private IPaymentGateway _gateway = null!;

    public async Task InitializeAsync()
    {
        _stripe = await StripeMockServer.StartAsync();
        (_services, _gateway) = CreateGateway(_stripe.SecretKey);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _stripe.DisposeAsync();
    }

    public void Dispose() => _logs.Dispose();

    private (ServiceProvider, IPaymentGateway) CreateGateway(string secretKey, int maxRetries = 3, string requestTimeout = "00:00:30")
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Payments:Stripe:SecretKey"] = secretKey,
            ["Payments:Stripe:ApiBase"] = _stripe.BaseUrl,
            ["Payments:Stripe:MaxRetries"] = maxRetries.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Payments:Stripe:RetryBaseDelay"] = "00:00:00.010",
            ["Payments:Stripe:RequestTimeout"] = requestTimeout,
        }).Build();
        var services = new ServiceCollection().AddLogging(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        services.AddMedSpaPayments(configuration);
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IPaymentGateway>());
    }

    private static string Key() => "key-" + Guid.NewGuid().ToString("N");

    private static Money Usd(long cents) => new(cents, "USD");

    private static PaymentRequest Charge(
        string method, long cents, bool captureLater = false, bool offSession = false, string? customer = null, string? key = null) =>
        new(Usd(cents), method, customer, captureLater, offSession, key ?? Key(), "Hydrafacial",
            new Dictionary<string, string> { ["tenant_id"] = "tenant-1", ["invoice_id"] = "invoice-7", ["tender_id"] = "tender-2" });

    private Task<string> NewCustomer() =>
        _gateway.CreateCustomerAsync(new CustomerRequest(Guid.NewGuid(), Guid.NewGuid(), "Grace Hopper", "grace@example.com", "+15555550100"), Key());

    private StripeMockRequest Single(string method, string path) => Assert.Single(_stripe.RequestsTo(method, path));

    [Fact]
    public void A_configured_secret_key_selects_the_stripe_gateway()
    {
        Assert.IsType<StripePaymentGateway>(_gateway);
        Assert.Equal("stripe", _gateway.Name);
    }

    [Fact]
    public async Task Customer_is_created_with_tenant_and_patient_metadata_the_key_and_the_idempotency_key()
    {
        var tenant = Guid.NewGuid();
        var patient = Guid.NewGuid();
        var key = Key();

        var id = await _gateway.CreateCustomerAsync(new CustomerRequest(tenant, patient, "Grace Hopper", "grace@example.com", null), key);

        Assert.StartsWith("cus_", id, StringComparison.Ordinal);
        var sent = Single("POST", "/v1/customers");
        Assert.Equal("Grace Hopper", sent.Field("name"));
        Assert.Equal("grace@example.com", sent.Field("email"));
        Assert.Equal(tenant.ToString(), sent.Field("metadata[tenant_id]"));
        Assert.Equal(patient.ToString(), sent.Field("metadata[patient_id]"));
        Assert.Equal(key, sent.IdempotencyKey);
        Assert.Equal("Bearer " + _stripe.SecretKey, sent.Authorization);
    }

    [Fact]
    public async Task Setup_intent_is_for_off_session_use_and_returns_the_client_secret()
    {
        var customer = await NewCustomer();

        var setup = await _gateway.CreateSetupIntentAsync(customer, Key());

        Assert.Equal("stripe", setup.Gateway);
        Assert.StartsWith("seti_", setup.SetupIntentId, StringComparison.Ordinal);
        Assert.StartsWith(setup.SetupIntentId + "_secret_", setup.ClientSecret, StringComparison.Ordinal);
        var sent = Single("POST", "/v1/setup_intents");
        Assert.Equal(customer, sent.Field("customer"));
        Assert.Equal("off_session", sent.Field("usage"));
    }

    [Fact]
    public async Task Reservation_on_a_saved_card_sends_confirm_manual_capture_off_session_customer_and_metadata()
    {
        var customer = await NewCustomer();
        var card = await _gateway.AttachCardAsync(customer, "pm_card_visa", Key());
        var request = Charge(card.PaymentMethodId, 120_00, captureLater: true, offSession: true, customer: customer);

        var result = await _gateway.CreatePaymentAsync(request);

        var sent = Single("POST", "/v1/payment_intents");
        Assert.Equal("12000", sent.Field("amount"));
        Assert.Equal("usd", sent.Field("currency"));
        Assert.Equal(card.PaymentMethodId, sent.Field("payment_method"));
        Assert.Equal(customer, sent.Field("customer"));
        Assert.Equal("true", sent.Field("confirm"));
        Assert.Equal("manual", sent.Field("capture_method"));
        Assert.Equal("true", sent.Field("off_session"));
        Assert.Equal("Hydrafacial", sent.Field("description"));
        Assert.Equal("tenant-1", sent.Field("metadata[tenant_id]"));
        Assert.Equal("invoice-7", sent.Field("metadata[invoice_id]"));
        Assert.Equal("tender-2", sent.Field("metadata[tender_id]"));
        Assert.Contains("latest_charge", sent.ListField("expand"));
        Assert.Equal(request.IdempotencyKey, sent.IdempotencyKey);

        Assert.Equal("stripe", result.Gateway);
        Assert.Equal(PaymentStatus.RequiresCapture, result.Status);
        Assert.Equal(Usd(120_00), result.Amount);
        Assert.Equal(Usd(0), result.AmountCaptured);
        Assert.Equal(card.PaymentMethodId, result.PaymentMethodId);
        Assert.Equal(("visa", CardFunding.Credit, "4242"), (result.Card!.Brand, result.Card.Funding, result.Card.Last4));
        Assert.Equal(12, result.Card.ExpMonth);
        Assert.True(result.Card.ExpYear > DateTime.UtcNow.Year);
    }

    [Fact]
    public async Task On_session_charge_is_automatic_capture_without_off_session()
    {
        var result = await _gateway.CreatePaymentAsync(Charge("pm_card_mastercard_prepaid", 45_00));

        var sent = Single("POST", "/v1/payment_intents");
        Assert.Equal("automatic", sent.Field("capture_method"));
        Assert.Null(sent.Field("off_session"));
        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        Assert.Equal(Usd(45_00), result.AmountCaptured);
        Assert.Equal(CardFunding.Prepaid, result.Card!.Funding);
        Assert.StartsWith("pi_", result.PaymentId, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pm_card_visa_debit", CardFunding.Debit, CardCheckResult.Pass, CardCheckResult.Pass)]
    [InlineData("pm_card_cvcCheckFail", CardFunding.Credit, CardCheckResult.Fail, CardCheckResult.Pass)]
    [InlineData("pm_card_avsZipFail", CardFunding.Credit, CardCheckResult.Pass, CardCheckResult.Fail)]
    public async Task Card_funding_and_check_results_come_from_the_latest_charge(
        string method, CardFunding funding, CardCheckResult cvc, CardCheckResult postalCode)
    {
        var result = await _gateway.CreatePaymentAsync(Charge(method, 10_00));

        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        Assert.Equal(funding, result.Card!.Funding);
        Assert.Equal(cvc, result.Card.CvcCheck);
        Assert.Equal(postalCode, result.Card.PostalCodeCheck);
    }

    [Fact]
    public async Task A_card_token_becomes_a_payment_method_under_a_key_derived_from_the_payments()
    {
        var request = Charge("tok_amex", 30_00);

        var result = await _gateway.CreatePaymentAsync(request);

        var created = Single("POST", "/v1/payment_methods");
        Assert.Equal("card", created.Field("type"));
        Assert.Equal("tok_amex", created.Field("card[token]"));
        Assert.Equal(request.IdempotencyKey + ":payment_method", created.IdempotencyKey);
        var intent = Single("POST", "/v1/payment_intents");
        Assert.StartsWith("pm_", intent.Field("payment_method"), StringComparison.Ordinal);
        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        Assert.Equal("amex", result.Card!.Brand);
    }

    [Theory]
    [InlineData("pm_card_chargeDeclined", "generic_decline", "0002")]
    [InlineData("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "9995")]
    [InlineData("pm_card_chargeDeclinedExpiredCard", "expired_card", "0069")]
    [InlineData("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "0127")]
    public async Task Card_errors_become_declined_results_with_the_decline_code_and_message(string method, string declineCode, string last4)
    {
        var result = await _gateway.CreatePaymentAsync(Charge(method, 80_00));

        Assert.Equal(PaymentStatus.Declined, result.Status);
        Assert.True(result.IsDeclined);
        Assert.Equal(declineCode, result.DeclineCode);
        Assert.False(string.IsNullOrWhiteSpace(result.Message));
        Assert.StartsWith("pi_", result.PaymentId, StringComparison.Ordinal);
        Assert.Equal(Usd(80_00), result.Amount);
        Assert.Equal(Usd(0), result.AmountCaptured);
        Assert.Equal(last4, result.Card!.Last4);
        Assert.Equal(402, Single("POST", "/v1/payment_intents").StatusCode);
    }

    [Fact]
    public async Task Incorrect_cvc_decline_surfaces_the_failed_cvc_check()
    {
        var result = await _gateway.CreatePaymentAsync(Charge("pm_card_chargeDeclinedIncorrectCvc", 80_00));

        Assert.Equal(CardCheckResult.Fail, result.Card!.CvcCheck);
    }

    [Fact]
    public async Task Authentication_required_needs_action_off_session_as_a_decline_and_on_session_as_a_status()
    {
        var off = await _gateway.CreatePaymentAsync(Charge("pm_card_authenticationRequired", 60_00, offSession: true));
        var on = await _gateway.CreatePaymentAsync(Charge("pm_card_authenticationRequired", 60_00));

        Assert.Equal(PaymentStatus.RequiresAction, off.Status);
        Assert.Equal("authentication_required", off.DeclineCode);
        Assert.True(off.IsDeclined);
        Assert.Equal(PaymentStatus.RequiresAction, on.Status);
        Assert.True(on.IsDeclined);
        Assert.Equal("3184", on.Card!.Last4);
    }

    [Fact]
    public async Task Server_errors_rate_limits_and_dropped_connections_are_retried_with_the_same_idempotency_key()
    {
        _stripe.FailNext(1, StripeMockFailure.ServerError);
        _stripe.FailNext(1, StripeMockFailure.RateLimited);
        _stripe.FailNext(1, StripeMockFailure.DropConnection);
        var request = Charge("pm_card_visa", 25_00);

        var result = await _gateway.CreatePaymentAsync(request);

        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        var attempts = _stripe.RequestsTo("POST", "/v1/payment_intents");
        Assert.Equal(["injected", "injected", "dropped", "processed"], attempts.Select(a => a.Outcome));
        Assert.Equal([500, 429], attempts.Take(2).Select(a => a.StatusCode!.Value));
        Assert.All(attempts, a => Assert.Equal(request.IdempotencyKey, a.IdempotencyKey));
        Assert.All(attempts, a => Assert.Equal("2500", a.Field("amount")));
    }

    [Fact]
    public async Task A_lost_answer_is_retried_and_stripe_replays_it_so_the_card_is_charged_once()
    {
        _stripe.FailNext(1, StripeMockFailure.DropConnectionAfterProcessing);
        var request = Charge("pm_card_visa", 99_00);

        var result = await _gateway.CreatePaymentAsync(request);

        var attempts = _stripe.RequestsTo("POST", "/v1/payment_intents");
        Assert.Equal(["processed-then-dropped", "replayed"], attempts.Select(a => a.Outcome));
        Assert.Equal(PaymentStatus.Succeeded, result.Status);
        // The answer is the payment made by the first attempt: one charge exists.
        var stored = _stripe.Find(result.PaymentId!);
        Assert.NotNull(stored);
        Assert.Equal(9900, (long)stored["amount_received"]!);
    }

    [Fact]
    public async Task An_attempt_that_times_out_is_retried_with_the_same_key()
    {
        var (services, gateway) = CreateGateway(_stripe.SecretKey, requestTimeout: "00:00:02");
        await using var _ = services;
        _stripe.FailNext(1, StripeMockFailure.Stall);
        var key = Key();

        var customer = await gateway.CreateCustomerAsync(new CustomerRequest(Guid.NewGuid(), Guid.NewGuid(), "Ada", null, null), key);

        var attempts = _stripe.RequestsTo("POST", "/v1/customers");
        Assert.Equal("stalled", attempts[0].Outcome);
        // Under load a later attempt may time out too; Stripe then replays it, and the customer is created once.
        Assert.Single(attempts, a => a.Outcome == "processed");
        Assert.All(attempts, a => Assert.Equal(key, a.IdempotencyKey));
        Assert.NotNull(_stripe.Find(customer));
    }

    [Fact]
    public async Task Logs_carry_ids_and_outcomes_but_no_card_details()
    {
        var customer = await NewCustomer();
        var card = await _gateway.AttachCardAsync(customer, "pm_card_chargeDeclinedInsufficientFunds", Key());
        var declined = await _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 10_00, customer: customer, offSession: true));
        var paid = await _gateway.CreatePaymentAsync(Charge("tok_visa", 10_00));
        await _gateway.RefundAsync(paid.PaymentId!, Usd(10_00), Key(), null);

        var gatewayLogs = _logs.Messages.Where(m => m.Category == typeof(StripePaymentGateway).FullName).Select(m => m.Text).ToList();
        Assert.Contains(
            gatewayLogs, m =>
                m.Contains(declined.PaymentId!, StringComparison.Ordinal) && m.Contains("insufficient_funds", StringComparison.Ordinal));
        Assert.Contains(gatewayLogs, m => m.Contains(paid.PaymentId!, StringComparison.Ordinal));
        // Last 4 digits as a standalone token (not inside an id, nor HttpClient's "after 2.9995ms" timings).
        var last4 = new System.Text.RegularExpressions.Regex(@"(?<![\w.])(9995|4242)(?![\w.])");
        foreach (var text in _logs.Messages.Select(m => m.Text))
        {
            Assert.DoesNotMatch(last4, text);
            Assert.DoesNotContain("exp_", text, StringComparison.Ordinal);
            Assert.DoesNotContain(_stripe.SecretKey, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Retries_exhausted_is_a_transient_gateway_exception()
    {
        _stripe.FailNext(10, StripeMockFailure.ServiceUnavailable);

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge("pm_card_visa", 25_00)));

        Assert.True(error.Transient);
        var attempts = _stripe.RequestsTo("POST", "/v1/payment_intents");
        Assert.Equal(4, attempts.Count); // the first attempt and three retries
        Assert.Single(attempts.Select(a => a.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task Dropped_connections_until_retries_run_out_are_transient_too()
    {
        _stripe.FailNext(4, StripeMockFailure.DropConnection);

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreateSetupIntentAsync("cus_any", Key()));

        Assert.True(error.Transient);
        Assert.Equal(4, _stripe.RequestsTo("POST", "/v1/setup_intents").Count);
    }

    [Fact]
    public async Task An_invalid_request_is_refused_once_not_retried_and_not_transient()
    {
        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(Charge("pm_does_not_exist", 25_00)));

        Assert.False(error.Transient);
        Assert.Contains("No such PaymentMethod", error.Message, StringComparison.Ordinal);
        Assert.Single(_stripe.RequestsTo("POST", "/v1/payment_intents"));
    }

    [Fact]
    public async Task A_wrong_api_key_is_not_transient()
    {
        var (services, gateway) = CreateGateway("sk_test_wrong");
        await using var _ = services;

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => gateway.CreatePaymentAsync(Charge("pm_card_visa", 25_00)));

        Assert.False(error.Transient);
        Assert.Equal("Bearer sk_test_wrong", Assert.Single(_stripe.Requests).Authorization);
    }

    [Fact]
    public async Task Same_idempotency_key_with_other_parameters_is_refused_and_not_retried()
    {
        var request = Charge("pm_card_visa", 25_00);
        var first = await _gateway.CreatePaymentAsync(request);
        var again = await _gateway.CreatePaymentAsync(request);

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CreatePaymentAsync(request with { Amount = Usd(26_00) }));

        Assert.Equal(first.PaymentId, again.PaymentId);
        Assert.False(error.Transient);
        Assert.Contains("same parameters", error.Message, StringComparison.Ordinal);
        Assert.Equal(["processed", "replayed", "processed"], _stripe.RequestsTo("POST", "/v1/payment_intents").Select(r => r.Outcome));
    }

    [Fact]
    public async Task Reservation_is_captured_in_part_then_refunded_in_parts_up_to_the_capture()
    {
        var reserved = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 100_00, captureLater: true));
        var captureKey = Key();

        var overCapture = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(reserved.PaymentId!, Usd(100_01), Key()));
        var captured = await _gateway.CaptureAsync(reserved.PaymentId!, Usd(60_00), captureKey);

        Assert.False(overCapture.Transient);
        var capture = _stripe.RequestsTo("POST", $"/v1/payment_intents/{reserved.PaymentId}/capture")[^1];
        Assert.Equal("6000", capture.Field("amount_to_capture"));
        Assert.Equal(captureKey, capture.IdempotencyKey);
        Assert.Equal(PaymentStatus.Succeeded, captured.Status);
        Assert.Equal(Usd(100_00), captured.Amount);
        Assert.Equal(Usd(60_00), captured.AmountCaptured);
        Assert.Equal("4242", captured.Card!.Last4);

        var first = await _gateway.RefundAsync(reserved.PaymentId!, Usd(20_00), Key(), "requested-by-customer");
        var second = await _gateway.RefundAsync(reserved.PaymentId!, Usd(15_00), Key(), "patient changed her mind");
        var tooMuch = await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.RefundAsync(reserved.PaymentId!, Usd(25_01), Key(), null));

        Assert.Equal(("stripe", RefundStatus.Succeeded, Usd(20_00)), (first.Gateway, first.Status, first.Amount));
        Assert.StartsWith("re_", first.RefundId, StringComparison.Ordinal);
        Assert.Equal(reserved.PaymentId, second.PaymentId);
        Assert.False(tooMuch.Transient);
        var refunds = _stripe.RequestsTo("POST", "/v1/refunds");
        Assert.Equal(reserved.PaymentId, refunds[0].Field("payment_intent"));
        Assert.Equal("2000", refunds[0].Field("amount"));
        Assert.Equal("requested_by_customer", refunds[0].Field("reason"));
        Assert.Null(refunds[1].Field("reason"));
        Assert.Equal("patient changed her mind", refunds[1].Field("metadata[reason]"));
        Assert.All(refunds, r => Assert.False(string.IsNullOrEmpty(r.IdempotencyKey)));
    }

    [Fact]
    public async Task Full_capture_sends_no_amount_and_cancel_releases_a_reservation()
    {
        var toCapture = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 40_00, captureLater: true));
        var toCancel = await _gateway.CreatePaymentAsync(Charge("pm_card_visa", 40_00, captureLater: true));

        var captured = await _gateway.CaptureAsync(toCapture.PaymentId!, null, Key());
        var canceled = await _gateway.CancelAsync(toCancel.PaymentId!, Key());

        Assert.Null(Single("POST", $"/v1/payment_intents/{toCapture.PaymentId}/capture").Field("amount_to_capture"));
        Assert.Equal(Usd(40_00), captured.AmountCaptured);
        Assert.Equal(PaymentStatus.Canceled, canceled.Status);
        Assert.Equal(Usd(0), canceled.AmountCaptured);
        Assert.False(string.IsNullOrEmpty(Single("POST", $"/v1/payment_intents/{toCancel.PaymentId}/cancel").IdempotencyKey));
        // A canceled reservation cannot be captured, and a captured one cannot be canceled.
        Assert.False((await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CaptureAsync(toCancel.PaymentId!, null, Key()))).Transient);
        Assert.False((await Assert.ThrowsAsync<PaymentGatewayException>(() => _gateway.CancelAsync(toCapture.PaymentId!, Key()))).Transient);
    }

    [Fact]
    public async Task Cards_are_attached_listed_made_default_and_removed()
    {
        var customer = await NewCustomer();

        var visa = await _gateway.AttachCardAsync(customer, "pm_card_visa", Key());
        var prepaid = await _gateway.AttachCardAsync(customer, "pm_card_mastercard_prepaid", Key());

        Assert.False(visa.IsDefault);
        Assert.Equal(("mastercard", CardFunding.Prepaid, "5100"), (prepaid.Card.Brand, prepaid.Card.Funding, prepaid.Card.Last4));
        var attach = _stripe.RequestsTo("POST", "/v1/payment_methods/pm_card_visa/attach").Single();
        Assert.Equal(customer, attach.Field("customer"));

        await _gateway.SetDefaultCardAsync(customer, visa.PaymentMethodId, Key());
        var update = Single("POST", $"/v1/customers/{customer}");
        Assert.Equal(visa.PaymentMethodId, update.Field("invoice_settings[default_payment_method]"));

        var cards = await _gateway.ListCardsAsync(customer);
        Assert.Equal([prepaid.PaymentMethodId, visa.PaymentMethodId], cards.Select(c => c.PaymentMethodId));
        Assert.Equal([false, true], cards.Select(c => c.IsDefault));
        var list = Single("GET", $"/v1/customers/{customer}/payment_methods");
        Assert.Equal("card", list.Field("type"));
        Assert.Null(list.IdempotencyKey);

        // Attaching again once the card is the default answers it as the default (the customer comes back expanded).
        var reattached = await _gateway.AttachCardAsync(customer, visa.PaymentMethodId, Key());
        Assert.True(reattached.IsDefault);

        await _gateway.RemoveCardAsync(visa.PaymentMethodId, Key());
        Assert.False(string.IsNullOrEmpty(Single("POST", $"/v1/payment_methods/{visa.PaymentMethodId}/detach").IdempotencyKey));
        var left = await _gateway.ListCardsAsync(customer);
        Assert.Equal(prepaid.PaymentMethodId, Assert.Single(left).PaymentMethodId);
        Assert.False(left[0].IsDefault);
    }

    [Fact]
    public async Task A_saved_card_cannot_be_charged_for_another_customer()
    {
        var owner = await NewCustomer();
        var other = await NewCustomer();
        var card = await _gateway.AttachCardAsync(owner, "pm_card_visa", Key());

        var error = await Assert.ThrowsAsync<PaymentGatewayException>(
            () => _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 10_00, customer: other)));

        Assert.False(error.Transient);
    }

    [Fact]
    public async Task Every_post_carries_an_idempotency_key_and_no_get_does()
    {
        var customer = await NewCustomer();
        await _gateway.CreateSetupIntentAsync(customer, Key());
        var card = await _gateway.AttachCardAsync(customer, "pm_card_visa", Key());
        await _gateway.SetDefaultCardAsync(customer, card.PaymentMethodId, Key());
        await _gateway.ListCardsAsync(customer);
        var payment = await _gateway.CreatePaymentAsync(Charge(card.PaymentMethodId, 10_00, captureLater: true, customer: customer));
        await _gateway.CaptureAsync(payment.PaymentId!, null, Key());
        await _gateway.RefundAsync(payment.PaymentId!, Usd(5_00), Key(), null);
        await _gateway.CreatePaymentAsync(Charge("tok_visa", 10_00));
        await _gateway.RemoveCardAsync(card.PaymentMethodId, Key());

        var requests = _stripe.Requests;
        Assert.True(requests.Count(r => r.Method == "POST") >= 9);
        Assert.All(requests.Where(r => r.Method == "POST"), r => Assert.False(string.IsNullOrWhiteSpace(r.IdempotencyKey), r.ToString()));
        Assert.All(requests.Where(r => r.Method == "GET"), r => Assert.Null(r.IdempotencyKey));
        Assert.Equal(
            requests.Count(r => r.Method == "POST"), requests.Where(r => r.Method == "POST").Select(r => r.IdempotencyKey).Distinct().Count());
    }
}

/// <summary>The server wires the Stripe gateway from configuration (ConfigureSilo → AddMedSpaPayments) and sends to
/// the configured API base.</summary>
public sealed class StripeGatewayHostingTests(StripeMockApiFactory factory) : IClassFixture<StripeMockApiFactory>
{
    [Fact]
    public async Task The_server_uses_stripe_when_a_secret_key_is_configured_and_calls_the_configured_api_base()
    {
        var gateway = factory.Services.GetRequiredService<IPaymentGateway>();

        var customer = await gateway.CreateCustomerAsync(
            new CustomerRequest(Guid.NewGuid(), Guid.NewGuid(), "Ada", null, null), "hosting-" + Guid.NewGuid());

        Assert.IsType<StripePaymentGateway>(gateway);
        Assert.Same(gateway, factory.Services.GetRequiredService<IPaymentGateway>());
        Assert.NotNull(factory.Stripe.Find(customer));
    }
}

internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly List<(string Category, string Text)> _messages = [];

    public IReadOnlyList<(string Category, string Text)> Messages
    {
        get
        {
            lock (_messages)
            {
                return _messages.ToList();
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var text = formatter(state, exception) + (exception is null ? "" : " " + exception);
            lock (owner._messages)
            {
                owner._messages.Add((category, text));
            }
        }
    }
}
