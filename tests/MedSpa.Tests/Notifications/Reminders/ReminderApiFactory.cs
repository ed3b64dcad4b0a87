using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Notifications.Reminders;

/// <summary>
/// The real server whose appointment reminders run on a fake clock (tests move it and call the grain's reminder entry
/// point, as the Orleans reminder does: no waiting), with Twilio pointed at a stand-in on loopback and email written to
/// a pickup folder. Given a <paramref name="previous"/> server it is that server restarted: same database, Orleans
/// service and Twilio stand-in, with Orleans reminders ticking every 2 s.
/// </summary>
public class ReminderApiFactory(ReminderApiFactory? previous = null, DateTimeOffset? startClock = null) : MedSpaApiFactory
{
    public const string AccountSid = "AC00000000000000000000000000000002";

    private readonly ReminderApiFactory? _previous = previous;

    public SettableClock Clock { get; } = new(startClock ?? DateTimeOffset.UtcNow);

    public ProviderStandIn Twilio { get; private set; } = null!;

    public string MessagesPath => $"/2010-04-01/Accounts/{AccountSid}/Messages.json";

    public string Outbox { get; } = previous?.Outbox ?? Path.Combine(Path.GetTempPath(), "medspa-remind-" + Guid.NewGuid().ToString("N")[..8]);

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public IAppointmentReminderGrain Reminders(Guid tenantId, Guid appointmentId) =>
        Grains.GetGrain<IAppointmentReminderGrain>(TenantKeys.For(tenantId, appointmentId));

    /// <summary>The texts Twilio was asked to send to a number (E.164).</summary>
    public IReadOnlyList<string> TextsTo(string e164) =>
        [.. Twilio.To(MessagesPath).Where(r => r.Method == "POST" && r.Form["To"] == e164).Select(r => r.Form["Body"])];

    /// <summary>What the Twilio stand-in holds (its message list, newest last): every message it accepted.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(string Sid, string To, string Body, DateTimeOffset At)> Accepted { get; } =
        previous?.Accepted ?? new();

    /// <summary>A message Twilio took whose answer never reached the server (it died first): in Twilio's list only.</summary>
    public string TwilioAcceptedButAnswerLost(string to, string body)
    {
        var sid = $"SM{Interlocked.Increment(ref _sids) + 90_000_000:D32}";
        Accepted.Enqueue((sid, to, body, DateTimeOffset.UtcNow));
        return sid;
    }

    /// <summary>Twilio's answers: a POST accepts a message (queued, new SID); a GET lists the accepted ones to the
    /// <c>To</c> of its query, newest first, in Twilio's list format.</summary>
    private CannedAnswer TwilioAnswer(CapturedRequest request)
    {
        if (request.Method == "GET")
        {
            var to = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(request.Query).TryGetValue("To", out var t) ? t.ToString() : null;
            var list = Accepted.Reverse().Where(m => to is null || m.To == to).Select(m => new Dictionary<string, string>
            {
                ["sid"] = m.Sid, ["to"] = m.To, ["body"] = m.Body, ["status"] = "sent",
                ["date_created"] = m.At.ToString("r", System.Globalization.CultureInfo.InvariantCulture),
            });
            return new CannedAnswer(200, JsonSerializer.Serialize(new { messages = list }));
        }

        var sid = $"SM{Interlocked.Increment(ref _sids):D32}";
        Accepted.Enqueue((sid, request.Form["To"], request.Form["Body"], DateTimeOffset.UtcNow));
        return new CannedAnswer(201, $$"""{"sid":"{{sid}}","status":"queued","to":{{JsonSerializer.Serialize(request.Form["To"])}}}""");
    }

    private int _sids;

    public override async Task InitializeAsync()
    {
        if (_previous is not null)
        {
            Twilio = _previous.Twilio;
        }
        else
        {
            Twilio = await ProviderStandIn.StartAsync();
            Twilio.Default(MessagesPath, TwilioAnswer);
        }

        await base.InitializeAsync();
    }

    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = new Dictionary<string, string?>
            {
                ["Twilio:AccountSid"] = AccountSid,
                ["Twilio:AuthToken"] = "twilio-reminder-token",
                ["Twilio:From"] = "+15005550006",
                ["Twilio:BaseUrl"] = Twilio.Url,
                ["Twilio:RetryDelay"] = "00:00:00.010",
                ["Email:PickupDirectory"] = Outbox,
                ["Orleans:MinimumReminderPeriod"] = "00:00:02",
                ["Notifications:Reminders:ReminderPeriod"] = "00:00:02",
            };
            if (_previous is not null)
            {
                settings["ConnectionStrings:Postgres"] = _previous.ConnectionString;
                settings["Orleans:ClusterId"] = _previous.ClusterId;
                settings["Orleans:ServiceId"] = _previous.ClusterId;
                settings["Auth:SigningKey"] = _previous.SigningKey;
            }

            return settings;
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(new AppointmentReminderClock(Clock)));
    }

    /// <summary>A clinic world (New York) whose first patient has a mobile number of its own and an email address.</summary>
    public async Task<(FlowWorld World, string Phone)> WorldAsync()
    {
        var world = await FlowWorld.CreateAsync(this, patients: 1, providers: 1, rooms: 0);
        var digits = $"646{Random.Shared.Next(0, 10_000_000):D7}";
        await this.ExecuteAsync("UPDATE patients SET phone = @digits, email = @email WHERE tenant_id = @TenantId AND id = @id",
            new { digits, email = $"p{Guid.NewGuid():N}@patients.example", world.TenantId, id = world.Patients[0] });
        return (world, "+1" + digits);
    }
}

/// <summary>The shared server of a test class (xUnit builds fixtures through a parameterless constructor).</summary>
public sealed class RemindersFixture : ReminderApiFactory
{
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}

/// <summary>A clock the tests set to any moment, earlier ones included (each test books its own appointment on the same
/// calendar day, so the shared clock goes back between tests).</summary>
public sealed class SettableClock(DateTimeOffset now) : TimeProvider
{
    private long _ticks = now.UtcTicks;

    public void SetUtcNow(DateTimeOffset value) => Interlocked.Exchange(ref _ticks, value.UtcTicks);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
}
