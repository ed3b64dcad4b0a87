namespace MedSpa.GrainInterfaces.Board;

// Plain enums: the API's JSON options write them as kebab-case strings ("in-progress", "no-show"), the names the
// clinics' front ends already use (DOMAIN.md "Live status"). Never renumber a member: grain state stores the number.

/// <summary>Where one appointment's day stands (the visit flow of issue 3 §1).</summary>
public enum VisitStatus
{
    Scheduled = 0,
    Confirmed = 1,
    /// <summary>In the building or outside it (see <see cref="WaitingSubStatus"/>), not yet in a room.</summary>
    Arrived = 2,
    /// <summary>In a treatment room, the provider has not started yet.</summary>
    InRoom = 3,
    InProgress = 4,
    Documenting = 5,
    /// <summary>Treatment and chart done; ready for payment at checkout.</summary>
    Ready = 6,
    Completed = 7,
    Cancelled = 8,
    NoShow = 9,
}

/// <summary>Waiting-room detail of a visit that has not reached a room yet.</summary>
public enum WaitingSubStatus
{
    /// <summary>Scheduled or confirmed, not here yet.</summary>
    NotArrived = 0,
    /// <summary>Arrived but waiting in the car (texted "HERE").</summary>
    InCar = 1,
    CheckedIn = 2,
    /// <summary>A room is ready and the patient has been called.</summary>
    RoomReady = 3,
}

/// <summary>What staff (or the SMS webhook) ask a visit to do.</summary>
public enum VisitCommandKind
{
    Confirm = 0,
    /// <summary>The patient texted "HERE" from the car park.</summary>
    MarkInCar = 1,
    CheckIn = 2,
    /// <summary>A room is ready: call the patient (from the waiting room or the car).</summary>
    CallToRoom = 3,
    /// <summary>The patient is in a treatment room (needs a room).</summary>
    SeatInRoom = 4,
    /// <summary>The provider starts the treatment (needs a provider).</summary>
    StartTreatment = 5,
    StartDocumenting = 6,
    /// <summary>Ready for payment.</summary>
    MarkReady = 7,
    /// <summary>Checked out and paid.</summary>
    Complete = 8,
    Cancel = 9,
    MarkNoShow = 10,
}

/// <summary>The room status a wall screen draws.</summary>
public enum RoomStatus
{
    Empty = 0,
    /// <summary>A patient is in the room, the provider has not started.</summary>
    Waiting = 1,
    InProgress = 2,
    Documenting = 3,
    Ready = 4,
    /// <summary>The visit is checked out and the room waits to be cleaned.</summary>
    Turnover = 5,
    OutOfService = 6,
}

/// <summary>How far an in-progress treatment is, from elapsed vs. estimated minutes.</summary>
public enum TreatmentPhase
{
    JustStarted = 0,
    InProgress = 1,
    AlmostDone = 2,
}

public enum ProviderStatus
{
    /// <summary>Free, waiting for the next patient.</summary>
    Waiting = 0,
    InRoom = 1,
    Documenting = 2,
    /// <summary>Done; a patient of theirs is ready for checkout.</summary>
    Ready = 3,
    Break = 4,
    Offline = 5,
}

/// <summary>Connection state of a provider's tablet (from SignalR presence).</summary>
public enum DeviceConnection
{
    Disconnected = 0,
    Connected = 1,
    /// <summary>Connected and uploading operations recorded while offline.</summary>
    Syncing = 2,
}

/// <summary>Waiting-queue priority; higher goes first.</summary>
public enum PatientPriority
{
    Normal = 0,
    Vip = 1,
    Urgent = 2,
}

/// <summary>How wall screens show patients: initials unless the clinic opts in to full names.</summary>
public enum PatientNameDisplay
{
    Initials = 0,
    FullName = 1,
}
