using System.Globalization;
using MedSpa.Grains.Domain.Notifications;

namespace MedSpa.Grains.Notifications;

/// <summary>An appointment as its reminders see it: its current booking, who and where, the clinic's reminder settings
/// (offsets, quiet hours, time zone, locale) and its wording of the two reminder kinds.</summary>
/// <param name="Status">The appointment's status (<c>scheduled</c>, <c>confirmed</c>, <c>cancelled</c> ...).</param>
/// <param name="Offsets">The clinic's offsets, or the built-in ones.</param>
/// <param name="QuietHours">The clinic's quiet hours, the built-in ones, or null when the clinic turned them off.</param>
/// <param name="Templates">Per kind, the wording for the clinic's locale (its own or the built-in one in its language).</param>
/// <param name="Culture">The clinic's locale: the language of the built-in wording and how dates and times read.</param>
public sealed record AppointmentReminderContext(
    Guid ClinicId,
    Guid PatientId,
    DateTimeOffset StartsAt,
    string Status,
    string ClinicName,
    string? ClinicPhone,
    TimeZoneInfo ClinicZone,
    string PatientFirstName,
    string PatientLastName,
    string ServiceName,
    string ProviderName,
    IReadOnlyList<TimeSpan> Offsets,
    QuietHours? QuietHours,
    IReadOnlyDictionary<string, MessageTemplate> Templates,
    CultureInfo Culture)
{
    /// <summary>Reminders go only for an appointment still to come.</summary>
    public bool Active => Status is "scheduled" or "confirmed";

    public MessageTemplate Template(string kind) =>
        Templates.TryGetValue(kind, out var own) ? own : MessageTemplates.Default(kind, Culture);
}

/// <summary>Reads what appointment reminders need (implemented in the silo over PostgreSQL, tenant-scoped).</summary>
public interface IAppointmentReminderStore
{
    /// <summary>The appointment and its clinic's settings, or null when it does not exist.</summary>
    Task<AppointmentReminderContext?> LoadAsync(Guid tenantId, Guid appointmentId, CancellationToken cancellationToken = default);
}

/// <summary>The reminders' clock (tests move it to make reminders due; Orleans keeps real time).</summary>
public sealed class AppointmentReminderClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();
}

/// <summary>Settings under <c>Notifications:Reminders:</c>.</summary>
public sealed class AppointmentReminderOptions
{
    public const string Section = "Notifications:Reminders";

    /// <summary>The Orleans reminder's period: a safety net re-running a tick whose work failed (every tick does only
    /// what is due). The due time is always the next reminder's own moment.</summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>At most this many reminder ticks of one silo do their work at once (each takes several database
    /// connections in turn): thousands due in the same minute queue here instead of exhausting the connection pool.</summary>
    public int MaxConcurrentTicks { get; set; } = 16;
}

/// <summary>The per-silo bound on concurrent reminder ticks (<see cref="AppointmentReminderOptions.MaxConcurrentTicks"/>).</summary>
public sealed class AppointmentReminderGate(Microsoft.Extensions.Options.IOptions<AppointmentReminderOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.MaxConcurrentTicks));

    public async Task<IDisposable> EnterAsync()
    {
        await _slots.WaitAsync();
        return new Slot(_slots);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
