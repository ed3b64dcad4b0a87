using System.Net;
using System.Text.Json;
using MedSpa.Tests.Board.Flow;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Seating changes two grains: the room (claimed first) and the visit. A failure between the two — the room took the
/// visit, then its answer was lost as a silo died — used to leave the room "waiting" with a patient whose visit stayed
/// "arrived", and the room refused every later seat. Now the seat's intent is recorded first and finished when the
/// grains come back; the client's retry of the same seat is answered as done; later seats in that room work.
/// </summary>
public sealed class SeatingConvergenceTests(FaultInjectionFactory factory) : IClassFixture<FaultInjectionFactory>
{
    private static SiloUnavailableException SiloDied() => new SiloUnavailableException("The silo between room and visit died (injected).");

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        // Recovery runs on the visit's timer (first attempt after about a second); generous for a loaded machine.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(25);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Timed out waiting until " + what);
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_seat_whose_room_answer_was_lost_converges_its_retry_is_answered_and_the_room_serves_later_seats()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 2, providers: 1, rooms: 1);
        using var desk = world.Desk();
        var room = world.Rooms[0];
        var first = await world.BookAsync(desk, world.Booking(patient: 0));
        var second = await world.BookAsync(desk, world.Booking(patient: 1, start: FlowWorld.Day.AddMinutes(30)));
        await desk.PostJson($"/api/providers/{world.Providers[0]}/on-duty", new { }).OkJsonAsync();
        await desk.Visit(first, "check-in").OkJsonAsync();
        await desk.Visit(second, "check-in").OkJsonAsync();

        // The room takes the visit; the visit never hears it.
        factory.Faults.LoseNextAnswers(world.TenantId, "OccupyAsync", SiloDied());
        var failed = await desk.Visit(first, "seat", new { roomId = room });
        var failedBody = await failed.Content.ReadAsStringAsync();
        Assert.True(failed.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)failed.StatusCode}: {failedBody}");
        Assert.Equal("cluster_unavailable", JsonDocument.Parse(failedBody).RootElement.GetProperty("code").GetString());
        Assert.Equal(1, factory.Faults.Passed(world.TenantId, "OccupyAsync"));

        // With no retry from anyone, visit and room agree again: the visit is in the room that holds it.
        await EventuallyAsync(async () =>
        {
            var visit = await desk.GetAsync($"/api/visits/{first}").OkJsonAsync();
            var card = await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync();
            return visit.GetProperty("status").GetString() == "in-room"
                && card.GetProperty("visitId").ValueKind == JsonValueKind.String && card.GetProperty("visitId").GetGuid() == first;
        }, "the interrupted seat is completed");

        // The client's retry of the same seat is answered as done, not "already in a room".
        var retried = await desk.Visit(first, "seat", new { roomId = room }).OkJsonAsync();
        Assert.Equal("in-room", retried.GetProperty("status").GetString());
        var history = retried.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("command").GetString()).ToList();
        Assert.Equal(["check-in", "seat-in-room"], history);

        // The room is legitimately taken, then serves the next patient once the first has left it.
        await desk.Visit(second, "seat", new { roomId = room }).ProblemAsync(HttpStatusCode.Conflict, "room_not_free");
        foreach (var command in new[] { "start", "document", "ready", "complete" })
        {
            await desk.Visit(first, command).OkJsonAsync();
        }

        await desk.PostJson($"/api/rooms/{room}/clean", new { }).OkJsonAsync();
        var seated = await desk.Visit(second, "seat", new { roomId = room }).OkJsonAsync();
        Assert.Equal("in-room", seated.GetProperty("status").GetString());
        Assert.Equal(second, (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("visitId").GetGuid());
    }

    [Fact]
    public async Task A_seat_interrupted_before_the_room_is_recovered_by_its_retry_with_an_idempotency_key()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 1);
        using var desk = world.Desk();
        var room = world.Rooms[0];
        var visit = await world.BookAsync(desk, world.Booking(patient: 0));
        await desk.Visit(visit, "check-in").OkJsonAsync();

        // A keyed seat: the first execution loses the room's answer, the transparent re-execution finds the intent.
        factory.Faults.LoseNextAnswers(world.TenantId, "OccupyAsync", SiloDied());
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/visits/{visit}/seat")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { roomId = room }, options: TestHost.MedSpaApiFactory.Json),
        };
        request.Headers.Add("Idempotency-Key", "seat-" + Guid.NewGuid().ToString("N"));
        using var seated = await desk.SendAsync(request);
        var body = await seated.Content.ReadAsStringAsync();

        Assert.True(seated.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)seated.StatusCode}: {body}");
        Assert.Equal("in-room", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        Assert.Equal(visit, (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("visitId").GetGuid());
        Assert.Equal("in-progress", await world.SqlStatusAsync(visit));
    }
}
