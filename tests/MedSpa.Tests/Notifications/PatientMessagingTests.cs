using System.Net;
using System.Text.Json;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Notifications;
using MedSpa.Silo.Notifications;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using Npgsql;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications;

/// <summary>The server with Twilio pointed at a stand-in on loopback, a small per-patient rate limit and email written
/// to a pickup folder.</summary>
public sealed class MessagingApiFactory : MedSpaApiFactory
{
    public const string AccountSid = "AC00000000000000000000000000000001";
    public const string AuthToken = "twilio-test-auth-token";
    public const string PatientLimit = "4";

    public ProviderStandIn Twilio { get; private set; } = null!;

    public string MessagesPath => $"/2010-04-01/Accounts/{AccountSid}/Messages.json";

    public string Outbox { get; } = Path.Combine(Path.GetTempPath(), "medspa-notify-" + Guid.NewGuid().ToString("N")[..8]);

    private int _sids;

    public override async Task InitializeAsync()
    {
        Twilio = await ProviderStandIn.StartAsync();
        Twilio.Default(MessagesPath, request => new CannedAnswer(201,
            $$"""{"sid":"SM{{Interlocked.Increment(ref _sids):D32}}","status":"queued","to":{{JsonSerializer.Serialize(request.Form["To"])}}}"""));
        await base.InitializeAsync();
    }

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Twilio:AccountSid"] = AccountSid,
        ["Twilio:AuthToken"] = AuthToken,
        ["Twilio:From"] = "+15005550006",
        ["Twilio:BaseUrl"] = Twilio.Url,
        ["Twilio:WebhookBaseUrl"] = "http://localhost",
        ["Twilio:RetryDelay"] = "00:00:00.010",
        ["Notifications:PatientLimit"] = PatientLimit,
        ["Email:PickupDirectory"] = Outbox,
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}

/// <summary>Issue 18 §2 through the public API: staff message a patient by SMS and email, Twilio's signed status
/// callback moves the delivery status, STOP/START by SMS opt the patient out and back in, marketing needs consent,
/// the per-patient rate limit holds, and another organisation's patient is absent.</summary>
public sealed class PatientMessagingTests(MessagingApiFactory factory) : IClassFixture<MessagingApiFactory>
{
    private async Task<(TestTenant Tenant, HttpClient Desk, Guid PatientId, string Phone)> PatientAsync(bool marketingConsent = false)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        // A number of its own per test: inbound STOP matches by number.
        var phone = $"(212) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Jane", lastName = "Doe", phone, email = $"jane.{Guid.NewGuid():N}@patients.example", marketingConsent },
            HttpStatusCode.Created);
        return (tenant, desk, patient.GetProperty("id").GetGuid(), phone);
    }

    private static string E164(string phone) => "+1" + new string(phone.Where(char.IsAsciiDigit).ToArray());

    private int SentTo(string e164) => factory.Twilio.To(factory.MessagesPath).Count(r => r.Form["To"] == e164);

    private async Task<HttpStatusCode> TwilioPostsAsync(string path, Dictionary<string, string> form, string? signature = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("X-Twilio-Signature", signature ?? TwilioSignature.Compute(MessagingApiFactory.AuthToken, "http://localhost" + path, form));
        using var response = await factory.CreateClient().SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task An_sms_goes_to_twilio_in_e164_and_the_signed_status_callback_marks_it_delivered()
    {
        var (tenant, desk, patientId, phone) = await PatientAsync();

        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Your results are ready", clinicId = tenant.ClinicId }, HttpStatusCode.Created);

        Assert.Equal("queued", sent.GetProperty("status").GetString());
        var sid = sent.GetProperty("providerId").GetString()!;
        var request = Assert.Single(factory.Twilio.To(factory.MessagesPath), r => r.Form["To"] == E164(phone));
        Assert.Equal("Your results are ready", request.Form["Body"]);
        var statusPath = $"/api/webhooks/twilio/{tenant.TenantId:N}/status";
        Assert.Equal("http://localhost" + statusPath, request.Form["StatusCallback"]);

        Assert.Equal(HttpStatusCode.NoContent, await TwilioPostsAsync(statusPath,
            new() { ["MessageSid"] = sid, ["MessageStatus"] = "delivered", ["AccountSid"] = MessagingApiFactory.AccountSid }));
        // A late "sent" never moves it back.
        Assert.Equal(HttpStatusCode.NoContent, await TwilioPostsAsync(statusPath,
            new() { ["MessageSid"] = sid, ["MessageStatus"] = "sent", ["AccountSid"] = MessagingApiFactory.AccountSid }));

        var history = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages", null);
        var item = Assert.Single(history.GetProperty("items").EnumerateArray());
        Assert.Equal("delivered", item.GetProperty("status").GetString());
        Assert.Equal(sid, item.GetProperty("providerId").GetString());
        Assert.Equal("sms", item.GetProperty("channel").GetString());
        Assert.Equal(E164(phone), item.GetProperty("to").GetString());
        Assert.True(item.TryGetProperty("sentAt", out var sentAt) && sentAt.ValueKind == JsonValueKind.String);
    }

    [Fact]
    public async Task A_status_callback_with_a_wrong_signature_is_403_and_changes_nothing()
    {
        var (tenant, desk, patientId, _) = await PatientAsync();
        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Hello", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        var path = $"/api/webhooks/twilio/{tenant.TenantId:N}/status";
        var form = new Dictionary<string, string> { ["MessageSid"] = sent.GetProperty("providerId").GetString()!, ["MessageStatus"] = "failed" };

        Assert.Equal(HttpStatusCode.Forbidden, await TwilioPostsAsync(path, form, TwilioSignature.Compute("not-the-token", "http://localhost" + path, form)));
        Assert.Equal(HttpStatusCode.Forbidden, await TwilioPostsAsync(path, form, ""));
        // Signed for another tenant's URL: the tenant in the path is covered by the signature.
        Assert.Equal(HttpStatusCode.Forbidden, await TwilioPostsAsync(path, form,
            TwilioSignature.Compute(MessagingApiFactory.AuthToken, $"http://localhost/api/webhooks/twilio/{Guid.NewGuid():N}/status", form)));

        var history = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages", null);
        Assert.Equal("queued", history.GetProperty("items")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task Stop_by_sms_opts_the_patient_out_at_once_and_start_opts_back_in()
    {
        var (tenant, desk, patientId, phone) = await PatientAsync();
        var inbound = $"/api/webhooks/twilio/{tenant.TenantId:N}/sms";

        Assert.Equal(HttpStatusCode.OK, await TwilioPostsAsync(inbound,
            new() { ["From"] = E164(phone), ["To"] = "+15005550006", ["Body"] = " stop ", ["MessageSid"] = "SMin1" }));

        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Reminder", clinicId = tenant.ClinicId });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("notification_opted_out", problem.GetProperty("code").GetString());
        Assert.Equal(0, SentTo(E164(phone)));
        // Email is another channel: STOP by SMS does not stop it.
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "email", subject = "Reminder", body = "See you tomorrow" }, HttpStatusCode.Created);

        Assert.Equal(HttpStatusCode.OK, await TwilioPostsAsync(inbound,
            new() { ["From"] = E164(phone), ["To"] = "+15005550006", ["Body"] = "START", ["MessageSid"] = "SMin2" }));
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Reminder", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(1, SentTo(E164(phone)));
    }

    [Fact]
    public async Task An_inbound_stop_with_a_wrong_signature_is_403_and_opts_nobody_out()
    {
        var (tenant, desk, patientId, phone) = await PatientAsync();
        var inbound = $"/api/webhooks/twilio/{tenant.TenantId:N}/sms";
        var form = new Dictionary<string, string> { ["From"] = E164(phone), ["Body"] = "STOP" };

        Assert.Equal(HttpStatusCode.Forbidden, await TwilioPostsAsync(inbound, form, "bm90IGEgc2lnbmF0dXJl"));

        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Still reachable", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(1, SentTo(E164(phone)));
    }

    [Fact]
    public async Task Marketing_needs_the_patients_marketing_consent()
    {
        var (tenant, desk, patientId, phone) = await PatientAsync(marketingConsent: false);

        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "20% off fillers", purpose = "marketing", clinicId = tenant.ClinicId });

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("notification_opted_out", problem.GetProperty("code").GetString());
        Assert.Equal(0, SentTo(E164(phone)));

        var (_, desk2, consenting, phone2) = await PatientAsync(marketingConsent: true);
        await desk2.SendAsync(HttpMethod.Post, $"/api/patients/{consenting}/messages",
            new { channel = "sms", body = "20% off fillers", purpose = "marketing" }, HttpStatusCode.Created);
        Assert.Equal(1, SentTo(E164(phone2)));
    }

    [Fact]
    public async Task The_per_patient_rate_limit_holds_under_concurrent_sends()
    {
        var (tenant, desk, patientId, phone) = await PatientAsync();
        var limit = int.Parse(MessagingApiFactory.PatientLimit, System.Globalization.CultureInfo.InvariantCulture);

        var answers = await Task.WhenAll(Enumerable.Range(0, limit * 3).Select(i => desk.TrySendAsync(HttpMethod.Post,
            $"/api/patients/{patientId}/messages", new { channel = "sms", body = $"Message {i}", clinicId = tenant.ClinicId })));

        Assert.Equal(limit, answers.Count(a => a.Status == HttpStatusCode.Created));
        Assert.All(answers.Where(a => a.Status != HttpStatusCode.Created), a =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, a.Status);
            Assert.Equal("notification_rate_limited", a.Body.GetProperty("code").GetString());
            Assert.Equal("patient", a.Body.GetProperty("scope").GetString());
        });
        Assert.Equal(limit, SentTo(E164(phone)));
    }

    [Fact]
    public async Task Email_goes_through_the_configured_email_transport_and_is_logged()
    {
        var (_, desk, patientId, _) = await PatientAsync();

        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "email", subject = "Your aftercare", body = "Avoid the sun for 48 hours." }, HttpStatusCode.Created);

        Assert.Equal("sent", sent.GetProperty("status").GetString());
        var eml = Directory.GetFiles(factory.Outbox, "*.eml").Select(File.ReadAllText).Where(t => t.Contains(sent.GetProperty("to").GetString()!, StringComparison.Ordinal));
        Assert.Contains("Avoid the sun for 48 hours.", Assert.Single(eml));
    }

    [Fact]
    public async Task Bad_requests_are_400_and_push_without_a_device_is_422()
    {
        var (_, desk, patientId, _) = await PatientAsync();

        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages", new { channel = "fax", body = "" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("channel", out _));
        Assert.True(problem.GetProperty("errors").TryGetProperty("body", out _));

        (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages", new { channel = "push", body = "Hi" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("notification_no_address", problem.GetProperty("code").GetString());

        var history = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages", null);
        Assert.Equal(0, history.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task Another_organisations_patient_is_404_and_the_history_is_staff_only()
    {
        var (_, _, patientId, phone) = await PatientAsync();
        var (_, otherDesk, _, _) = await PatientAsync();

        var (status, _) = await otherDesk.TrySendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages", null);
        Assert.Equal(HttpStatusCode.NotFound, status);
        (status, _) = await otherDesk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages", new { channel = "sms", body = "Hi" });
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(0, SentTo(E164(phone)));

        using var anonymous = factory.CreateClient();
        using var response = await anonymous.GetAsync($"/api/patients/{patientId}/messages");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_signed_unsubscribe_link_opts_out_of_its_channel_on_post_only()
    {
        var (tenant, desk, patientId, _) = await PatientAsync(marketingConsent: true);
        var auth = factory.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var token = UnsubscribeApi.CreateToken(auth, tenant.TenantId, patientId, "email");
        using var anonymous = factory.CreateClient();

        // GET (a mail scanner following the link) changes nothing.
        var described = await anonymous.SendAsync(HttpMethod.Get, $"/api/unsubscribe?token={token}", null);
        Assert.False(described.GetProperty("optedOut").GetBoolean());
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "email", body = "Still subscribed", purpose = "marketing" }, HttpStatusCode.Created);

        // A link changed to another patient or channel does not verify.
        var forged = token.Replace(".email.", ".sms.", StringComparison.Ordinal);
        var (status, problem) = await anonymous.TrySendAsync(HttpMethod.Post, $"/api/unsubscribe?token={forged}", null);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("notification_bad_signature", problem.GetProperty("code").GetString());

        var done = await anonymous.SendAsync(HttpMethod.Post, $"/api/unsubscribe?token={token}", null);
        Assert.True(done.GetProperty("optedOut").GetBoolean());
        (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "email", body = "Anything", purpose = "transactional" });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("notification_opted_out", problem.GetProperty("code").GetString());
        // SMS is another channel: still open.
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "sms", body = "Your appointment", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
    }

    [Fact]
    public async Task Replying_C_confirms_the_patients_next_appointment_only()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 0);
        var phone = $"(646) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE patients SET phone = @phone WHERE tenant_id = @TenantId AND id = @id",
                new { phone, world.TenantId, id = world.Patients[0] });
        }

        var desk = world.Desk();
        var next = await world.BookAsync(desk, world.Booking(start: FlowWorld.Day));
        var later = await world.BookAsync(desk, world.Booking(start: FlowWorld.Day.AddDays(7)));

        Assert.Equal(HttpStatusCode.OK, await TwilioPostsAsync($"/api/webhooks/twilio/{world.TenantId:N}/sms",
            new() { ["From"] = E164(phone), ["To"] = "+15005550006", ["Body"] = "c", ["MessageSid"] = "SMin3" }));

        // The visit grain writes the appointment row before it answers (as the front desk's confirm does).
        Assert.Equal("confirmed", await world.SqlStatusAsync(next));
        Assert.Equal("scheduled", await world.SqlStatusAsync(later));
    }
}
