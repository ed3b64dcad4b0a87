using System.Diagnostics;
using System.Text.Json;
using MedSpa.Api.Features.Charts;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.SignalR.Client;

namespace MedSpa.Tests.Charts;

/// <summary>
/// Connected tablets send their queues over the clinic hub (the real SignalR client against the real server on a
/// socket): the same merge as the batch endpoint, the conflicts on the board, and the tablet's state on the provider card.
/// </summary>
public sealed class ChartSyncHubTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    private static readonly JsonSerializerOptions Json = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        MedSpa.Api.Infrastructure.ApiConventions.ConfigureJson(options);
        return options;
    }

    /// <summary>Sends a batch as the tablet's page does: the anonymous request, as JSON, through the hub method.</summary>
    private static async Task<ChartSyncHubAnswer> SendAsync(BoardClient tablet, Guid visit, object batch)
    {
        var request = JsonSerializer.Deserialize<ChartSyncBatchRequest>(JsonSerializer.Serialize(batch, Json), Json)!;
        var answer = await tablet.Connection.InvokeAsync<ChartSyncHubAnswer>("ApplyChartOperations", visit, request);
        Assert.True(answer.Status == 200, $"{answer.Status} {answer.Code}: {answer.Message}");
        return answer;
    }

    private static async Task<JsonElement> WaitForAsync(BoardClient client, Func<JsonElement, bool> match, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            foreach (var raw in client.ReceivedJson)
            {
                var json = JsonDocument.Parse(raw).RootElement;
                if (match(json))
                {
                    return json.Clone();
                }
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"The board never showed {what}.");
            await Task.Delay(50);
        }
    }

    private static bool Card(BoardEnvelope e, Guid providerId, DeviceConnection connection, int pending) =>
        e.Data is ProviderCard card && card.ProviderId == providerId && card.Connection == connection && card.PendingOperations == pending;

    [Fact]
    public async Task Two_tablets_over_the_hub_converge_in_either_order_and_the_board_shows_their_conflicts()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var first = await world.BookVisitAsync(patient: 0);
        var second = await world.BookVisitAsync(patient: 1, provider: 1);
        var scenario = new ChartSyncScenario(world);

        await using var wall = factory.Client(world.Flow.FrontDesk.AccessToken);
        await wall.JoinAsync(world.ClinicId);
        await using var a = factory.Client(world.Provider.AccessToken, device: "tablet-a");
        await a.JoinAsync(world.ClinicId);
        await using var b = factory.Client(world.Provider2.AccessToken, device: "tablet-b");
        await b.JoinAsync(world.ClinicId);
        await SendAsync(a, first, scenario.Initial());
        await SendAsync(a, first, scenario.OfflineA());
        await SendAsync(b, first, scenario.OfflineB());
        await SendAsync(a, second, scenario.Initial());
        await SendAsync(b, second, scenario.OfflineB());
        var last = await SendAsync(a, second, scenario.OfflineA());
        Assert.Equal(["superseded", "applied", "applied"], last.Answer!.Results.Select(r => r.Outcome));
        // A resend over the hub is answered as before and changes nothing.
        var resent = await SendAsync(a, second, scenario.OfflineA());
        Assert.All(resent.Answer!.Results, r => Assert.True(r.Replayed));
        Assert.Equal(last.Answer.Chart.Version, resent.Answer.Chart.Version);

        var chart1 = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(first), null);
        var chart2 = await world.Desk().SendAsync(HttpMethod.Get, ChartWorld.Chart(second), null);
        scenario.AssertFinal(chart1);
        Assert.Equal(ChartSyncScenario.Content(chart1), ChartSyncScenario.Content(chart2));
        Assert.Equal(1000m - 2 * 26m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));

        // Both conflicts of the first visit, naming both values and both tablets.
        var dose = await WaitForAsync(wall, e => e.GetProperty("event").GetString() == "treatment.sync_conflict"
            && e.GetProperty("data").GetProperty("visitId").GetGuid() == first && e.GetProperty("data").GetProperty("field").GetString() == "dose",
            "the dose conflict");
        Assert.Equal("Botox Cosmetic lot BTX-GOOD 16 units", dose.GetProperty("data").GetProperty("kept").GetString());
        Assert.Equal("tablet-b", dose.GetProperty("data").GetProperty("keptDevice").GetString());
        Assert.Equal("Botox Cosmetic lot BTX-GOOD 24 units", dose.GetProperty("data").GetProperty("discarded").GetString());
        Assert.Equal(scenario.P1, dose.GetProperty("data").GetProperty("pointId").GetGuid());
        var plan = await WaitForAsync(wall, e => e.GetProperty("event").GetString() == "treatment.sync_conflict"
            && e.GetProperty("data").GetProperty("visitId").GetGuid() == first && e.GetProperty("data").GetProperty("field").GetString() == "plan",
            "the plan conflict");
        Assert.Equal(("Review in two weeks", "Review in one week"),
            (plan.GetProperty("data").GetProperty("kept").GetString(), plan.GetProperty("data").GetProperty("discarded").GetString()));

        // A refusal comes back as the endpoint's would.
        var refused = await a.Connection.InvokeAsync<ChartSyncHubAnswer>("ApplyChartOperations", first,
            new ChartSyncBatchRequest("tablet-a", 0, []));
        Assert.Equal((400, "validation_failed", "operations"), (refused.Status, refused.Code, refused.Field));
    }

    [Fact]
    public async Task A_tablet_shows_syncing_with_its_pending_count_then_connected_then_disconnected_on_the_provider_card()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var providerUser = await tenant.CreateUserAsync("provider");
        var providerId = await tenant.AddProviderAsync("Dr. Sync", providerUser.UserId);
        await using var wall = factory.Client(tenant.Owner.AccessToken);
        await wall.JoinAsync(tenant.ClinicId);
        var tablet = factory.Client(providerUser.AccessToken, device: "tablet-a");
        await tablet.JoinAsync(tenant.ClinicId);
        await Eventually.TrueAsync(() => wall.Received.Any(e => Card(e, providerId, DeviceConnection.Connected, 0)), "tablet A connected",
            TimeSpan.FromSeconds(60));

        // Back online with four operations queued: the card says syncing, and how many.
        await tablet.Connection.InvokeAsync("ReportSyncState", 4);
        await Eventually.TrueAsync(() => wall.Received.Any(e => Card(e, providerId, DeviceConnection.Syncing, 4)), "tablet A syncing 4",
            TimeSpan.FromSeconds(60));
        await tablet.Connection.InvokeAsync("ReportSyncState", 0);
        await Eventually.TrueAsync(() => wall.Received.LastOrDefault(e => e.Data is ProviderCard c && c.ProviderId == providerId) is { } e
                                         && Card(e, providerId, DeviceConnection.Connected, 0), "tablet A connected, nothing pending",
            TimeSpan.FromSeconds(60));

        // The tablet's connection going away is "disconnected" on the card.
        await tablet.DisposeAsync();
        await Eventually.TrueAsync(() => wall.Received.LastOrDefault(e => e.Data is ProviderCard c && c.ProviderId == providerId) is { } e
                                         && Card(e, providerId, DeviceConnection.Disconnected, 0), "tablet A disconnected", TimeSpan.FromSeconds(60));
    }
}
