using System.Text.Json;
using System.Text.Json.Serialization;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

/// <summary>
/// The board contracts cross silos (Orleans serializer) and reach browsers (System.Text.Json with the API's
/// kebab-case enums). A missing [Id], a non-serializable member or a lost derived type shows up here, not in a
/// grain test much later.
/// </summary>
public sealed class BoardContractsSerializationTests
{
    private static readonly Serializer Orleans =
        new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

    // The same choices as the API's ApiConventions: web defaults (camelCase) and kebab-case enum strings.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
    };

    private static T RoundTrip<T>(T value) where T : class =>
        Orleans.Deserialize<T>(Orleans.SerializeToArray(value)) ?? throw new InvalidOperationException("null copy");

    [Fact]
    public void Visit_state_with_history_and_outcome_survive_the_orleans_serializer()
    {
        var visit = VisitAt(VisitStatus.Ready, null);
        var outcome = VisitFlow.Transition(visit, VisitCommand.Complete(), Tablet(Nine.AddHours(1)));
        var refused = VisitFlow.Transition(visit, VisitCommand.MarkNoShow(), Tablet(Nine.AddHours(1)));

        var copy = RoundTrip(outcome);
        var refusedCopy = RoundTrip(refused);

        Assert.Equal(outcome.State with { History = [] }, copy.State with { History = [] });
        Assert.Equal(outcome.State.History.ToArray(), copy.State.History.ToArray());
        Assert.Equal(outcome.Events.ToArray(), copy.Events.ToArray());
        Assert.True(copy.Accepted);
        Assert.Equal(refused.Refusal, refusedCopy.Refusal);
        Assert.Equal(VisitStatus.Ready, refusedCopy.State.Status);
        Assert.Equal(VisitCommand.Cancel("why"), RoundTrip(VisitCommand.Cancel("why")));
    }

    [Fact]
    public void Room_and_provider_state_survive_the_orleans_serializer()
    {
        var room = RoomRules.Occupy(RoomRules.NewRoom(RoomId, ClinicId, "3"), VisitId, Desk(Nine)).State;
        Assert.Equal(room, RoundTrip(room));

        var provider = ProviderRules.GoOnDuty(ProviderRules.NewProvider(ProviderId, ClinicId, "Ana"), Desk(Nine)).State;
        provider = ProviderRules.ApplyVisit(provider, VisitId, RoomId, VisitStatus.InProgress, Desk(Nine));
        provider = ProviderRules.SetDeviceConnection(provider, "tablet-7", DeviceConnection.Syncing, Nine);
        provider = provider with { Breaks = [new ProviderBreak(Nine, Nine.AddMinutes(5))] };

        var copy = RoundTrip(provider);

        Assert.Equal(provider.ActiveVisits[VisitId], copy.ActiveVisits[VisitId]);
        Assert.Equal(provider.Devices["tablet-7"], copy.Devices["tablet-7"]);
        Assert.Equal(provider.Breaks.ToArray(), copy.Breaks.ToArray());
        Assert.Equal(ProviderRules.Card(provider), ProviderRules.Card(copy));
    }

    [Fact]
    public void Envelopes_keep_their_data_type_through_the_orleans_serializer()
    {
        var ring = new BoardEventRing();
        var visit = VisitAt(VisitStatus.InProgress, null);
        var card = RoomRules.Card(RoomRules.Occupy(RoomRules.NewRoom(RoomId, ClinicId, "3"), VisitId, Desk(Nine)).State,
            visit, PatientNameDisplay.Initials, Nine.AddMinutes(30));
        ring.Append(BoardEventNames.RoomUpdated, Nine, card);
        ring.Append(BoardEventNames.QueueUpdated, Nine,
            WaitingQueue.Build([VisitAt(VisitStatus.Arrived, WaitingSubStatus.InCar)], PatientNameDisplay.Initials, Nine));

        var copy = RoundTrip(ring.GetSince(0));

        Assert.Equal(2, copy.Events.Length);
        Assert.Equal(card, Assert.IsType<RoomCard>(copy.Events[0].Data));
        var queue = Assert.IsType<WaitingQueueView>(copy.Events[1].Data);
        Assert.Equal("J.D.", Assert.Single(queue.Entries).Patient);
    }

    [Fact]
    public void Envelope_json_is_event_seq_at_data_with_kebab_case_values()
    {
        var visit = VisitAt(VisitStatus.InProgress, null);
        var room = RoomRules.Occupy(RoomRules.NewRoom(RoomId, ClinicId, "3"), VisitId, Desk(Nine)).State;
        var card = RoomRules.Card(room, visit, PatientNameDisplay.Initials, visit.StartedAt!.Value.AddMinutes(55));
        var envelope = new BoardEventRing().Append(BoardEventNames.RoomUpdated, Nine, card);

        using var json = JsonDocument.Parse(JsonSerializer.Serialize(envelope, Json));
        var root = json.RootElement;

        Assert.Equal(["event", "seq", "at", "data"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("room.updated", root.GetProperty("event").GetString());
        Assert.Equal(1, root.GetProperty("seq").GetInt64());
        Assert.Equal(Nine, root.GetProperty("at").GetDateTimeOffset());
        var data = root.GetProperty("data");
        Assert.Equal("in-progress", data.GetProperty("status").GetString());
        Assert.Equal("almost-done", data.GetProperty("phase").GetString());
        Assert.Equal("J.D.", data.GetProperty("patient").GetString());
        Assert.Equal(RoomId, data.GetProperty("roomId").GetGuid());
        Assert.Equal(55, data.GetProperty("elapsedMinutes").GetInt32());
    }

    [Fact]
    public void Visit_event_and_queue_json_use_the_front_ends_names()
    {
        var outcome = VisitFlow.Transition(VisitAt(VisitStatus.Scheduled, WaitingSubStatus.NotArrived),
            VisitCommand.MarkNoShow(), Desk(Nine));
        var ring = new BoardEventRing();
        var visitEvent = ring.Append(outcome.Events[0].Event, Nine, outcome.Events[0]);
        var queue = ring.Append(BoardEventNames.QueueUpdated, Nine, WaitingQueue.Build(
            [VisitAt(VisitStatus.Arrived, WaitingSubStatus.RoomReady) with { Priority = PatientPriority.Vip }],
            PatientNameDisplay.Initials, Nine.AddMinutes(10)));

        using var visitJson = JsonDocument.Parse(JsonSerializer.Serialize(visitEvent, Json));
        using var queueJson = JsonDocument.Parse(JsonSerializer.Serialize(queue, Json));

        var data = visitJson.RootElement.GetProperty("data");
        Assert.Equal("scheduled", data.GetProperty("from").GetString());
        Assert.Equal("no-show", data.GetProperty("to").GetString());
        var entry = queueJson.RootElement.GetProperty("data").GetProperty("entries")[0];
        Assert.Equal("room-ready", entry.GetProperty("waiting").GetString());
        Assert.Equal("vip", entry.GetProperty("priority").GetString());
    }
}
