using System.Text.Json;
using System.Text.Json.Serialization;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// A value serialized to JSON at most once (on first use), so that every join answered with the same board snapshot or
/// the same presence list shares its bytes instead of serializing the object graph again.
/// </summary>
public sealed class SerializedOnce<T>(T value, JsonSerializerOptions options, Action? onSerialized = null)
    where T : class
{
    private readonly Lazy<byte[]> _json = new(() =>
    {
        onSerialized?.Invoke();
        return JsonSerializer.SerializeToUtf8Bytes(value, options);
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    public T Value => value;

    public ReadOnlySpan<byte> Json => _json.Value;
}

/// <summary>
/// What <see cref="ClinicHub.JoinBoard"/> answers: on the wire exactly a <see cref="BoardJoinResult"/> (clients read it as
/// one), written from the shared serializations of the snapshot and of the presence list.
/// <para>
/// Why: a join's answer carries the whole presence list (and, on a first join, the snapshot). When a wall of screens
/// joins at once — a clinic opening, every TV back after a network cut — each answer was serialized on its own:
/// 1,000 screens joining a board of 1,000 meant about a million presence entries written out within seconds (≈ 340 MB
/// allocated), and the clinic's other screens waited behind that work. Screens joining at the same presence version
/// (it changes at most four times a second) or the same board content now share one serialization.
/// </para>
/// </summary>
[JsonConverter(typeof(BoardJoinAnswerJsonConverter))]
public sealed class BoardJoinAnswer(
    Guid clinicId,
    long seq,
    SerializedOnce<BoardSnapshot>? snapshot,
    IReadOnlyList<BoardEnvelope>? events,
    SerializedOnce<BoardPresence> presence)
{
    public Guid ClinicId => clinicId;

    public long Seq => seq;

    public SerializedOnce<BoardSnapshot>? Snapshot => snapshot;

    public IReadOnlyList<BoardEnvelope>? Events => events;

    public SerializedOnce<BoardPresence> Presence => presence;

    /// <summary>The same answer as the plain record (what clients deserialize it to).</summary>
    public BoardJoinResult ToResult() => new(ClinicId, Seq, Snapshot?.Value, Events, Presence.Value);
}

/// <summary>
/// Writes a <see cref="BoardJoinAnswer"/> as the serializer would write the equivalent <see cref="BoardJoinResult"/>
/// (same property names and order under the options' naming policy, nulls written), with the snapshot and the presence
/// list copied from their shared serialized bytes. Answers are only ever written (the hub's result), never read.
/// </summary>
public sealed class BoardJoinAnswerJsonConverter : JsonConverter<BoardJoinAnswer>
{
    public override BoardJoinAnswer Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new JsonException($"{nameof(BoardJoinAnswer)} is written only; read a {nameof(BoardJoinResult)}.");

    public override void Write(Utf8JsonWriter writer, BoardJoinAnswer value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString(Name(nameof(BoardJoinResult.ClinicId), options), value.ClinicId);
        writer.WriteNumber(Name(nameof(BoardJoinResult.Seq), options), value.Seq);
        writer.WritePropertyName(Name(nameof(BoardJoinResult.Snapshot), options));
        if (value.Snapshot is null) writer.WriteNullValue();
        else writer.WriteRawValue(value.Snapshot.Json, skipInputValidation: true);
        writer.WritePropertyName(Name(nameof(BoardJoinResult.Events), options));
        JsonSerializer.Serialize<IReadOnlyList<BoardEnvelope>?>(writer, value.Events, options);
        writer.WritePropertyName(Name(nameof(BoardJoinResult.Presence), options));
        writer.WriteRawValue(value.Presence.Json, skipInputValidation: true);
        writer.WriteEndObject();
    }

    private static string Name(string property, JsonSerializerOptions options) =>
        options.PropertyNamingPolicy?.ConvertName(property) ?? property;
}
