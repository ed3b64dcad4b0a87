using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Grains.GiftCards;

/// <summary>The durable state of one card's delivery (Orleans binary serializer: add fields with new ids only).</summary>
[GenerateSerializer, Alias("medspa.giftcards.delivery-state.v1")]
public sealed class GiftCardDeliveryState
{
    [Id(0)] public bool Created { get; set; }
    [Id(1)] public GiftCardDeliveryRequest? Request { get; set; }

    /// <summary>The code encrypted by the code protector (never the raw code: grain state is a database row).</summary>
    [Id(2)] public string ProtectedCode { get; set; } = "";
    [Id(3)] public GiftCardDeliveryStatus Status { get; set; }

    /// <summary>Where the next send goes: the request's address, or the one a resend corrected it to.</summary>
    [Id(4)] public string RecipientEmail { get; set; } = "";
    [Id(5)] public DateTimeOffset? SentAt { get; set; }

    /// <summary>Sends tried in total (successful or not), over the card's life.</summary>
    [Id(6)] public int Attempts { get; set; }

    /// <summary>Consecutive failures of the current send (reset by a success or a resend).</summary>
    [Id(7)] public int Failures { get; set; }

    /// <summary>When the current send is due (the scheduled time, a retry, or now for a resend); null when nothing is due.</summary>
    [Id(8)] public DateTimeOffset? NextAttemptAt { get; set; }
    [Id(9)] public string? LastDetail { get; set; }
    [Id(10)] public List<GiftCardDeliveryEvent> Events { get; set; } = [];
    [Id(11)] public string? MessageId { get; set; }

    /// <summary>Numbers the sends (1, 2, ...): the provider's events carry it.</summary>
    [Id(12)] public int SendNumber { get; set; }
    [Id(13)] public HashSet<string> Resends { get; set; } = [];

    /// <summary>A send succeeded and the card (pending) has not yet confirmed its activation.</summary>
    [Id(14)] public bool ActivationDue { get; set; }
    [Id(15)] public long Version { get; set; }

    /// <summary>The version last written to <c>gift_card_deliveries</c>.</summary>
    [Id(16)] public long ProjectedVersion { get; set; }
}
