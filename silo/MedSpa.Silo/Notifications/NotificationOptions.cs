namespace MedSpa.Silo.Notifications;

/// <summary>Settings under <c>Notifications:</c>.</summary>
public sealed class NotificationOptions
{
    public const string Section = "Notifications";

    /// <summary>At most this many messages to one patient (all channels) in <see cref="PatientWindow"/>, so a bug
    /// cannot text a patient a hundred times.</summary>
    public int PatientLimit { get; set; } = 10;

    public TimeSpan PatientWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>At most this many messages from one clinic in <see cref="ClinicWindow"/>.</summary>
    public int ClinicLimit { get; set; } = 600;

    public TimeSpan ClinicWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A message logged <c>queued</c> with a dedupe key and not handed to its provider within this time is taken
    /// as abandoned (the server died between its row and the provider call): the next send with its key resends it.</summary>
    public TimeSpan ResendQueuedAfter { get; set; } = TimeSpan.FromMinutes(2);
}
