using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Features.Notifications;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Notifications;
using MedSpa.Tests.Auth;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// The real server on a socket (SignalR over WebSockets) with Twilio pointed at a stand-in on loopback, and the inbox's
/// clock set to the flow tests' day (<see cref="FlowWorld.Day"/>, 09:30 in the clinic) so "today" never depends on the
/// wall clock.
/// </summary>
public sealed class InboxServerFactory : LiveServerFactory
{
    public const string AccountSid = "AC00000000000000000000000000000002";
    public const string AuthToken = "twilio-inbox-auth-token";

    public ProviderStandIn Twilio { get; private set; } = null!;

    public FakeTimeProvider Clock { get; } = new(FlowWorld.Day.AddMinutes(-30).ToUniversalTime());

    public string MessagesPath => $"/2010-04-01/Accounts/{AccountSid}/Messages.json";

    private int _sids;

    public override async Task InitializeAsync()
    {
        Twilio = await ProviderStandIn.StartAsync();
        Twilio.Default(MessagesPath, request => new CannedAnswer(201,
            $$"""{"sid":"SM{{Interlocked.Increment(ref _sids):D32}}","status":"queued","to":{{JsonSerializer.Serialize(request.Form["To"])}}}"""));
        await base.InitializeAsync();
    }

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Twilio:AccountSid"] = AccountSid,
        ["Twilio:AuthToken"] = AuthToken,
        ["Twilio:From"] = "+15005550006",
        ["Twilio:BaseUrl"] = Twilio.Url,
        ["Twilio:WebhookBaseUrl"] = "http://localhost",
        ["Twilio:RetryDelay"] = "00:00:00.010",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(new InboxClock(Clock)));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Twilio.DisposeAsync();
    }

    /// <summary>Posts a form to a Twilio webhook path, signed as Twilio signs it.</summary>
    public async Task<HttpStatusCode> TwilioPostsAsync(string path, Dictionary<string, string> form, string? signature = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("X-Twilio-Signature", signature ?? TwilioSignature.Compute(AuthToken, "http://localhost" + path, form));
        using var response = await CreateClient().SendAsync(request);
        return response.StatusCode;
    }

    public Task<HttpStatusCode> TextAsync(Guid tenantId, string from, string to, string body, string sid) =>
        TwilioPostsAsync($"/api/webhooks/twilio/{tenantId:N}/sms",
            new() { ["From"] = from, ["To"] = to, ["Body"] = body, ["MessageSid"] = sid, ["AccountSid"] = AccountSid });

    public async Task SqlAsync(string sql, object args)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.ExecuteAsync(sql, args);
    }
}

/// <summary>A hub connection that records the staff notifications pushed to it (<c>notification.received</c>).</summary>
public sealed class NotificationClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<NotificationResponse> _received = new();

    private NotificationClient(BoardClient board) => Board = board;

    public BoardClient Board { get; }

    public IReadOnlyList<NotificationResponse> Received => [.. _received];

    public Task Closed { get; private set; } = Task.CompletedTask;

    public static async Task<NotificationClient> ConnectAsync(LiveServerFactory factory, string accessToken)
    {
        var client = new NotificationClient(factory.Client(accessToken));
        client.Board.Connection.On<JsonElement>(ClinicHub.NotificationMethod,
            json => client._received.Enqueue(json.Deserialize<NotificationResponse>(MedSpaApiFactory.Json)!));
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Board.Connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        client.Closed = closed.Task;
        await client.Board.Connection.StartAsync();
        return client;
    }

    public Task<NotificationResponse> WaitForAsync(Func<NotificationResponse, bool> match, string what) =>
        WaitAsync(match, what);

    private async Task<NotificationResponse> WaitAsync(Func<NotificationResponse, bool> match, string what)
    {
        await Eventually.TrueAsync(() => _received.Any(match), what);
        return _received.First(match);
    }

    public ValueTask DisposeAsync() => Board.DisposeAsync();
}

/// <summary>
/// Issue 18 §3 through the public API and the real SignalR client: a signed inbound <c>HERE</c> puts today's visit of
/// the sender (of a family sharing one phone, the one with an appointment today) in-car on the board; other texts land
/// in the clinic's inbox (once per MessageSid) and reach the clinic's front desk live — not wall screens, not providers,
/// not another organisation; staff reply through the notification service and the reply keeps its delivery status.
/// </summary>
public sealed class SmsInboxTests(InboxServerFactory factory) : IClassFixture<InboxServerFactory>
{
    private static string NewPhone() => $"(917) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";

    private static string E164(string phone) => "+1" + new string(phone.Where(char.IsAsciiDigit).ToArray());

    private static string NewSid() => "SM" + Guid.NewGuid().ToString("N");

    /// <summary>A flow world whose clinic owns <c>clinicNumber</c> and whose patients all share one phone (a family).</summary>
    private async Task<(FlowWorld World, string Phone, string ClinicNumber)> FamilyAsync(int patients)
    {
        var world = await FlowWorld.CreateAsync(factory, patients: patients, providers: 1, rooms: 0);
        var phone = NewPhone();
        var clinicNumber = NewPhone();
        await factory.SqlAsync("UPDATE patients SET phone = @phone WHERE tenant_id = @TenantId", new { phone, world.TenantId });
        await factory.SqlAsync("UPDATE clinics SET phone = @clinicNumber WHERE tenant_id = @TenantId AND id = @ClinicId",
            new { clinicNumber, world.TenantId, world.ClinicId });
        return (world, phone, E164(clinicNumber));
    }

    private static async Task<JsonElement> ThreadsAsync(HttpClient client, Guid clinicId) =>
        await client.SendAsync(HttpMethod.Get, $"/api/clinics/{clinicId}/inbox/threads", null);

    [Fact]
    public async Task Here_marks_the_family_member_with_a_visit_today_in_car_and_board_clients_see_it_once()
    {
        var (world, phone, clinicNumber) = await FamilyAsync(patients: 2);
        var desk = world.Desk();
        var tomorrow = await world.BookAsync(desk, world.Booking(patient: 0, start: FlowWorld.Day.AddDays(1)));
        var today = await world.BookAsync(desk, world.Booking(patient: 1, start: FlowWorld.Day));
        await using var screen = factory.Client(world.FrontDesk.AccessToken);
        await screen.JoinAsync(world.ClinicId);

        var sid = NewSid();
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, " here ", sid));

        await Eventually.TrueAsync(() => screen.Received.Any(e => e.Event == BoardEventNames.QueueUpdated
            && e.Data is WaitingQueueView q && q.Entries.Any(x => x.VisitId == today && x.Waiting == WaitingSubStatus.InCar)),
            "the board's client sees the patient in-car");
        var visit = await desk.SendAsync(HttpMethod.Get, $"/api/visits/{today}", null);
        Assert.Equal("in-car", visit.GetProperty("waiting").GetString());
        Assert.Equal("arrived", await world.SqlStatusAsync(today));
        Assert.Equal("scheduled", await world.SqlStatusAsync(tomorrow));

        // Twilio's retry of the same MessageSid, and a second HERE: the visit stays in-car, nothing lands in the inbox.
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, " here ", sid));
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "HERE", NewSid()));
        Assert.Equal(0, (await ThreadsAsync(desk, world.ClinicId)).GetProperty("total").GetInt64());
        visit = await desk.SendAsync(HttpMethod.Get, $"/api/visits/{today}", null);
        Assert.Equal("in-car", visit.GetProperty("waiting").GetString());
        // One transition, made by the patient from the SMS channel.
        var inCar = Assert.Single(visit.GetProperty("history").EnumerateArray(), h => h.GetProperty("waitingTo").GetString() == "in-car");
        Assert.Equal(world.Patients[1], inCar.GetProperty("userId").GetGuid());
        Assert.Equal(TwilioWebhookApi.SmsDevice, inCar.GetProperty("deviceId").GetString());
    }

    [Fact]
    public async Task Here_without_a_visit_today_and_any_other_text_land_in_the_inbox_once_and_reach_the_front_desk_live()
    {
        var (world, phone, clinicNumber) = await FamilyAsync(patients: 1);
        var tenant = world.Tenant;
        var provider = await tenant.CreateUserAsync("provider");
        var otherClinicDesk = await tenant.CreateUserAsync("front-desk", await tenant.AddClinicAsync());
        var other = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var link = await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{world.ClinicId}/display-links", new { name = "Lobby TV" }, HttpStatusCode.Created);
        var display = await factory.CreateClient().SendAsync(HttpMethod.Post, "/api/board/display-token", new { key = link.GetProperty("secret").GetString() });

        await using var desk = await NotificationClient.ConnectAsync(factory, world.FrontDesk.AccessToken);
        await using var screen = await NotificationClient.ConnectAsync(factory, display.GetProperty("accessToken").GetString()!);
        await screen.Board.JoinAsync(world.ClinicId);
        await using var providerHub = await NotificationClient.ConnectAsync(factory, provider.AccessToken);
        await using var elsewhere = await NotificationClient.ConnectAsync(factory, otherClinicDesk.AccessToken);
        await using var otherOrg = await NotificationClient.ConnectAsync(factory, other.Owner.AccessToken);

        var sid = NewSid();
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "Can I move my 3pm to Friday?", sid));
        var pushed = await desk.WaitForAsync(n => n.Kind == NotificationsApi.MessageReceived, "the front desk is told of the text");
        Assert.Equal(world.ClinicId, pushed.ClinicId);
        Assert.Equal(SmsInbox.InboxThreadSubject, pushed.SubjectType);
        Assert.Contains("Can I move my 3pm to Friday?", pushed.Message);
        Assert.Null(pushed.ReadAt);

        // Twilio retries the same MessageSid: it lands once. HERE with no visit today lands too (staff see it).
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "Can I move my 3pm to Friday?", sid));
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "HERE", NewSid()));
        await Eventually.TrueAsync(() => desk.Received.Count == 2, "the second text's notification");

        var deskHttp = world.Desk();
        var threads = await ThreadsAsync(deskHttp, world.ClinicId);
        var thread = Assert.Single(threads.GetProperty("items").EnumerateArray());
        Assert.Equal(pushed.SubjectId, thread.GetProperty("id").GetGuid().ToString("D"));
        Assert.Equal(world.Patients[0], thread.GetProperty("patientId").GetGuid());
        Assert.Equal(2, thread.GetProperty("unreadCount").GetInt32());
        var detail = await deskHttp.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads/{pushed.SubjectId}", null);
        Assert.Equal(["Can I move my 3pm to Friday?", "HERE"],
            detail.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("body").GetString()));
        var list = await deskHttp.SendAsync(HttpMethod.Get, "/api/notifications?kind=message-received", null);
        Assert.Equal(2, list.GetProperty("total").GetInt64());

        // A marker every staff connection of both organisations is concerned by: once each has it, the text's
        // notification (pushed before it, on the same path) would have reached them too.
        await factory.SqlAsync(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@t, gen_random_uuid(), NULL, 'inventory-low-stock', 'product', 'marker', 'Marker.', 'marker:' || gen_random_uuid())
            """, new { t = world.TenantId });
        await factory.SqlAsync(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@t, gen_random_uuid(), NULL, 'card-expiring', 'saved-card', 'marker', 'Marker.', 'marker:' || gen_random_uuid())
            """, new { t = other.TenantId });
        await providerHub.WaitForAsync(n => n.SubjectId == "marker", "the provider gets the low-stock marker");
        await otherOrg.WaitForAsync(n => n.SubjectId == "marker", "the other organisation's owner gets its own marker");
        Assert.DoesNotContain(providerHub.Received, n => n.Kind == NotificationsApi.MessageReceived);
        Assert.DoesNotContain(otherOrg.Received, n => n.Kind == NotificationsApi.MessageReceived);
        Assert.Empty(elsewhere.Received); // another clinic's front desk: neither the text nor the providers' marker
        Assert.Empty(screen.Received); // a wall screen gets no staff notification
        Assert.DoesNotContain(desk.Received, n => n.SubjectId == "marker"); // low stock is not the front desk's

        // Another organisation's owner does not see the thread or the notification.
        using var otherOwner = other.ClientFor(other.Owner);
        await otherOwner.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads", null, HttpStatusCode.NotFound);
        Assert.Equal(0, (await otherOwner.SendAsync(HttpMethod.Get, "/api/notifications?kind=message-received", null)).GetProperty("total").GetInt64());
        await otherOwner.SendAsync(HttpMethod.Post, $"/api/notifications/{pushed.Id}/read", null, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Staff_reply_by_sms_shows_in_the_thread_with_its_delivery_status_and_consent_applies()
    {
        var (world, phone, clinicNumber) = await FamilyAsync(patients: 1);
        var desk = world.Desk();
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "Do you take walk-ins?", NewSid()));
        var threadId = (await ThreadsAsync(desk, world.ClinicId)).GetProperty("items")[0].GetProperty("id").GetGuid();
        var replies = $"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}/replies";

        var reply = await desk.SendAsync(HttpMethod.Post, replies, new { body = "Yes, until 6pm today." }, HttpStatusCode.Created);
        Assert.Equal("outbound", reply.GetProperty("direction").GetString());
        Assert.Equal("queued", reply.GetProperty("status").GetString());
        var sent = Assert.Single(factory.Twilio.To(factory.MessagesPath), r => r.Form["To"] == E164(phone));
        Assert.Equal("Yes, until 6pm today.", sent.Form["Body"]);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            var sid = await conn.ExecuteScalarAsync<string>(
                "SELECT n.provider_id FROM inbox_messages m JOIN notification_messages n ON n.tenant_id = m.tenant_id AND n.id = m.notification_message_id WHERE m.tenant_id = @TenantId AND m.id = @id",
                new { world.TenantId, id = reply.GetProperty("id").GetGuid() });
            Assert.Equal(HttpStatusCode.NoContent, await factory.TwilioPostsAsync($"/api/webhooks/twilio/{world.TenantId:N}/status",
                new() { ["MessageSid"] = sid!, ["MessageStatus"] = "delivered", ["AccountSid"] = InboxServerFactory.AccountSid }));
        }

        var detail = await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}", null);
        Assert.Equal(0, detail.GetProperty("thread").GetProperty("unreadCount").GetInt32());
        Assert.Equal([("inbound", "received"), ("outbound", "delivered")],
            detail.GetProperty("messages").EnumerateArray().Select(m => (m.GetProperty("direction").GetString(), m.GetProperty("status").GetString())));

        // Read and assignment; an assignee who does not work here is refused.
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "Great, thanks", NewSid()));
        Assert.Equal(1, (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads?unreadOnly=true", null)).GetProperty("total").GetInt64());
        await desk.SendAsync(HttpMethod.Post, $"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}/read", null);
        Assert.Equal(0, (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads?unreadOnly=true", null)).GetProperty("total").GetInt64());
        var assigned = await desk.SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}/assignee", new { userId = world.FrontDesk.UserId });
        Assert.Equal(world.FrontDesk.UserId, assigned.GetProperty("assignedTo").GetGuid());
        Assert.Equal(1, (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads?mine=true", null)).GetProperty("total").GetInt64());
        var stranger = await TestTenant.CreateAsync(factory);
        await desk.PutAsJsonAsync($"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}/assignee", new { userId = stranger.Owner.UserId }, MedSpaApiFactory.Json)
            .ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");

        // Bad input changes nothing; the patient's opt-out holds; a number of nobody cannot be answered.
        await desk.PostJson(replies, new { body = "" }).ProblemAsync(HttpStatusCode.BadRequest, "validation_failed");
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(phone), clinicNumber, "STOP", NewSid()));
        await desk.PostJson(replies, new { body = "Are you sure?" }).ProblemAsync(HttpStatusCode.Conflict, "notification_opted_out");
        Assert.Single(factory.Twilio.To(factory.MessagesPath), r => r.Form["To"] == E164(phone));
        Assert.Equal(3, (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{world.ClinicId}/inbox/threads/{threadId}", null))
            .GetProperty("messages").GetArrayLength());

        var stray = NewPhone();
        Assert.Equal(HttpStatusCode.OK, await factory.TextAsync(world.TenantId, E164(stray), clinicNumber, "Who is this?", NewSid()));
        var strayThread = (await ThreadsAsync(desk, world.ClinicId)).GetProperty("items").EnumerateArray()
            .Single(t => t.GetProperty("phone").GetString() == E164(stray));
        Assert.Equal(JsonValueKind.Null, strayThread.GetProperty("patientId").ValueKind);
        await desk.PostJson($"/api/clinics/{world.ClinicId}/inbox/threads/{strayThread.GetProperty("id").GetGuid()}/replies", new { body = "Hello" })
            .ProblemAsync(HttpStatusCode.Conflict, "inbox_no_patient");

        // Another organisation's staff, or a provider: not theirs.
        using var otherDesk = stranger.ClientFor(await stranger.CreateUserAsync("front-desk"));
        await otherDesk.PostJson(replies, new { body = "Hi" }).ProblemAsync(HttpStatusCode.NotFound, "not_found");
        using var provider = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.PostJson(replies, new { body = "Hi" })).StatusCode);
    }

    [Fact]
    public async Task A_wrongly_signed_inbound_text_is_403_and_lands_nothing()
    {
        var (world, phone, clinicNumber) = await FamilyAsync(patients: 1);
        var path = $"/api/webhooks/twilio/{world.TenantId:N}/sms";
        var form = new Dictionary<string, string> { ["From"] = E164(phone), ["To"] = clinicNumber, ["Body"] = "HERE", ["MessageSid"] = NewSid() };
        Assert.Equal(HttpStatusCode.Forbidden, await factory.TwilioPostsAsync(path, form, TwilioSignature.Compute("not-the-token", "http://localhost" + path, form)));
        // Nothing was claimed either: the properly signed delivery of the same MessageSid still lands.
        Assert.Equal(0, (await ThreadsAsync(world.Desk(), world.ClinicId)).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.OK, await factory.TwilioPostsAsync(path, form));
        Assert.Equal(1, (await ThreadsAsync(world.Desk(), world.ClinicId)).GetProperty("total").GetInt64());

        // Signed but malformed: 400 naming the field, nothing lands.
        Assert.Equal(HttpStatusCode.BadRequest, await factory.TwilioPostsAsync(path, new(form) { ["From"] = new string('1', 41), ["MessageSid"] = NewSid() }));
        Assert.Equal(HttpStatusCode.BadRequest, await factory.TwilioPostsAsync(path, new(form) { ["MessageSid"] = new string('S', 65) }));
        Assert.Equal(1, (await ThreadsAsync(world.Desk(), world.ClinicId)).GetProperty("total").GetInt64());
    }
}

/// <summary>
/// Issue 18 §4: staff notifications are read and unread per user (mark one, mark all), and a deactivated user or a
/// revoked session gets no push (the hub closed their connection; they are no recipient).
/// </summary>
public sealed class StaffNotificationTests(InboxServerFactory factory) : IClassFixture<InboxServerFactory>
{
    private static Task InsertAsync(InboxServerFactory factory, Guid tenantId, Guid? clinicId, string kind, string subject) =>
        factory.SqlAsync(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@tenantId, gen_random_uuid(), @clinicId, @kind, 'test', @subject, 'Test.', @subject || gen_random_uuid())
            """, new { tenantId, clinicId, kind, subject });

    [Fact]
    public async Task Read_and_unread_are_per_user_and_mark_all_read_marks_only_the_callers()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var a = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var b = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        await InsertAsync(factory, tenant.TenantId, tenant.ClinicId, "payment-failed", "one");
        await InsertAsync(factory, tenant.TenantId, null, "card-expiring", "two");
        await InsertAsync(factory, tenant.TenantId, tenant.ClinicId, "inventory-low-stock", "three");

        var page = await a.SendAsync(HttpMethod.Get, "/api/notifications", null);
        Assert.Equal(2, page.GetProperty("total").GetInt64()); // low stock is the providers' and admins'
        var first = page.GetProperty("items")[0].GetProperty("id").GetGuid();
        await a.SendAsync(HttpMethod.Post, $"/api/notifications/{first}/read", null);
        Assert.Equal(1, (await a.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null)).GetProperty("total").GetInt64());
        Assert.Equal(2, (await b.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null)).GetProperty("total").GetInt64());

        Assert.Equal(2, (await b.SendAsync(HttpMethod.Post, "/api/notifications/read", null)).GetProperty("marked").GetInt32());
        Assert.Equal(0, (await b.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null)).GetProperty("total").GetInt64());
        Assert.Equal(0, (await b.SendAsync(HttpMethod.Post, "/api/notifications/read", null)).GetProperty("marked").GetInt32());
        Assert.Equal(1, (await a.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null)).GetProperty("total").GetInt64());
        var providers = await provider.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null);
        Assert.Equal("three", Assert.Single(providers.GetProperty("items").EnumerateArray()).GetProperty("subjectId").GetString());
    }

    [Fact]
    public async Task A_deactivated_user_and_a_revoked_session_get_no_push_while_the_others_do()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var stays = await tenant.CreateUserAsync("front-desk");
        var deactivated = await tenant.CreateUserAsync("front-desk");
        var signedIn = await tenant.CreateUserWithPasswordAsync("front-desk");
        var login = await factory.CreateClient().LoginOkAsync(signedIn.Email, signedIn.Password!);

        await using var staysHub = await NotificationClient.ConnectAsync(factory, stays.AccessToken);
        await using var deactivatedHub = await NotificationClient.ConnectAsync(factory, deactivated.AccessToken);
        await using var revokedHub = await NotificationClient.ConnectAsync(factory, login.Str("accessToken"));

        using var owner = tenant.ClientFor(tenant.Owner);
        await owner.SendAsync(HttpMethod.Patch, $"/api/users/{deactivated.UserId}", new { active = false });
        using var self = factory.CreateClient(login.Str("accessToken"));
        Assert.Equal(HttpStatusCode.NoContent, (await self.DeleteAsync($"/api/auth/sessions/{login.GetProperty("sessionId").GetGuid()}")).StatusCode);
        await deactivatedHub.Closed.WaitAsync(TimeSpan.FromSeconds(20));
        await revokedHub.Closed.WaitAsync(TimeSpan.FromSeconds(20));

        await InsertAsync(factory, tenant.TenantId, tenant.ClinicId, "payment-failed", "after");
        await staysHub.WaitForAsync(n => n.SubjectId == "after", "the active user's push");
        Assert.Empty(deactivatedHub.Received);
        Assert.Empty(revokedHub.Received);
        Assert.Equal(HubConnectionState.Disconnected, deactivatedHub.Board.Connection.State);
        Assert.Equal(HubConnectionState.Disconnected, revokedHub.Board.Connection.State);
    }
}
