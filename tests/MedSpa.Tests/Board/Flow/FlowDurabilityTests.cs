using System.Diagnostics;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Board.Flow;

public sealed class FlowDurabilityTests(FlowApiFactory factory) : IClassFixture<FlowApiFactory>
{
    [Fact]
    public async Task A_board_that_cannot_be_reached_gets_the_changes_once_it_can()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking());

        factory.Board.MakeUnreachable(world.TenantId);
        // The transition is durable even though nobody could be told yet.
        await desk.Visit(appointment, "check-in").OkJsonAsync();
        Assert.Equal("arrived", await world.SqlStatusAsync(appointment));
        Assert.DoesNotContain(factory.Board.For(world.TenantId, world.ClinicId), c => c.Data is VisitFlowEvent);

        factory.Board.Restore(world.TenantId);
        // Retried on a grain timer; poll with a deadline rather than sleeping a guessed time.
        var deadline = Stopwatch.StartNew();
        while (!factory.Board.For(world.TenantId, world.ClinicId).Any(c => c.Event == BoardEventNames.PatientCheckedIn)
               || !factory.Board.For(world.TenantId, world.ClinicId).Any(c => c.Event == BoardEventNames.QueueUpdated))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "The undelivered events never reached the board.");
            await Task.Delay(50);
        }

        var events = factory.Board.For(world.TenantId, world.ClinicId).Select(c => c.Event).ToList();
        Assert.Equal(1, events.Count(e => e == BoardEventNames.PatientCheckedIn));
        Assert.True(events.IndexOf(BoardEventNames.VisitStatusChanged) < events.IndexOf(BoardEventNames.PatientCheckedIn));
    }
}

public sealed class AppointmentStatusRepairTests(FlowApiFactory factory) : IClassFixture<FlowApiFactory>
{
    [Fact]
    public async Task A_lost_sql_status_update_is_repaired_by_the_next_transition_and_an_old_version_never_overwrites()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking(room: 0));
        await desk.Visit(appointment, "confirm").OkJsonAsync();
        await desk.Visit(appointment, "check-in").OkJsonAsync();

        // As if the process died after the grain wrote "arrived" but before the row was updated.
        await using var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString);
        await Dapper.SqlMapper.ExecuteAsync(conn,
            "UPDATE appointments SET status = 'confirmed', visit_version = 1 WHERE tenant_id = @TenantId AND id = @appointment",
            new { world.TenantId, appointment });

        await desk.Visit(appointment, "seat").OkJsonAsync();
        Assert.Equal("in-progress", await world.SqlStatusAsync(appointment));
        Assert.Equal(3L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(conn,
            "SELECT visit_version FROM appointments WHERE tenant_id = @TenantId AND id = @appointment", new { world.TenantId, appointment }));

        // A late replay of an older visit version (e.g. a retry still in flight) cannot move the row back.
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var visit = (await grains.GetGrain<IVisitGrain>(BoardKeys.For(world.TenantId, appointment)).GetAsync())!;
        var rows = factory.Services.GetRequiredService<MedSpa.Grains.Board.IBoardFlowStore>();
        await rows.SyncAppointmentStatusAsync(world.TenantId, visit with { Version = 2, Status = VisitStatus.Arrived });
        Assert.Equal("in-progress", await world.SqlStatusAsync(appointment));
    }
}

/// <summary>Its own servers: one is stopped and a second one started on the same database and Orleans service.</summary>
public sealed class FlowRestartTests
{
    [Fact]
    public async Task Visit_room_and_provider_state_survive_a_host_restart()
    {
        var first = new FlowApiFactory();
        await first.InitializeAsync();
        RestartedFlowApiFactory? second = null;
        try
        {
            var world = await FlowWorld.CreateAsync(first);
            var desk = world.Desk();
            var room = world.Rooms[0];
            var provider = world.Providers[0];
            var appointment = await world.BookAsync(desk, world.Booking(room: 0));
            await desk.PostJson($"/api/providers/{provider}/on-duty", new { }).OkJsonAsync();
            foreach (var command in new[] { "check-in", "seat", "start" })
            {
                await desk.Visit(appointment, command, device: "front-1").OkJsonAsync();
            }

            // Stop the first server (host and silo), keeping its database.
            await ((WebApplicationFactory<Program>)first).DisposeAsync();

            second = new RestartedFlowApiFactory(first);
            await second.InitializeAsync();
            var again = second.CreateClient(world.FrontDesk.AccessToken);

            var visit = await again.GetAsync($"/api/visits/{appointment}").OkJsonAsync();
            Assert.Equal("in-progress", visit.GetProperty("status").GetString());
            Assert.Equal(3, visit.GetProperty("history").GetArrayLength());
            Assert.Equal("front-1", visit.GetProperty("history")[2].GetProperty("deviceId").GetString());
            var card = await again.GetAsync($"/api/rooms/{room}/status").OkJsonAsync();
            Assert.Equal("in-progress", card.GetProperty("status").GetString());
            Assert.Equal(appointment, card.GetProperty("visitId").GetGuid());
            Assert.Equal("in-room", (await again.GetAsync($"/api/providers/{provider}/status").OkJsonAsync()).GetProperty("status").GetString());

            // The flow carries on where it was, and the room is still taken.
            var other = await world.BookAsync(again, world.Booking(patient: 1, provider: 1, start: FlowWorld.Day.AddHours(5)));
            await again.Visit(other, "check-in").OkJsonAsync();
            await again.Visit(other, "seat", new { roomId = room }).ProblemAsync(System.Net.HttpStatusCode.Conflict, "room_not_free");
            foreach (var command in new[] { "document", "ready", "complete" })
            {
                await again.Visit(appointment, command).OkJsonAsync();
            }

            Assert.Equal("completed", await world.SqlStatusAsync(appointment));
            Assert.Equal("turnover", (await again.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
        }
        finally
        {
            if (second is not null)
            {
                await ((IAsyncLifetime)second).DisposeAsync();
            }

            await ((IAsyncLifetime)first).DisposeAsync();
        }
    }
}
