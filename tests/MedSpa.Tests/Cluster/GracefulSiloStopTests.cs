using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// A rolling restart (issue 19 §1): a silo stopped gracefully (<c>SIGTERM</c>, the host's StopAsync) while requests are
/// served by the grains it holds costs no failed request at all — not even a 503. The api co-hosts one silo; a second
/// silo of the same cluster runs in this process and holds the invoices the burst writes to, then stops mid-burst.
/// </summary>
public sealed class GracefulSiloStopTests(MedSpaApiFactory factory, ITestOutputHelper output) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Stopping_the_silo_that_holds_the_grains_under_a_burst_of_writes_and_reads_fails_no_request()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        const int writers = 4;
        var invoices = new Guid[writers];
        for (var i = 0; i < writers; i++)
        {
            invoices[i] = await desk.CreateInvoiceAsync(tenant.ClinicId);
        }

        var other = await TestSilo.StartAsync(factory.ConnectionString, factory.ClusterId, new Dictionary<string, string?>
        {
            ["GiftCards:CodeKey"] = factory.GiftCardCodeKey,
            ["Auth:SigningKey"] = factory.SigningKey,
        });
        await using var _ = other;
        var management = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        await Eventually.WaitForAsync(() => management.GetHosts(onlyActive: true), hosts => hosts.Count == 2, TimeSpan.FromSeconds(60),
            "the second silo joins the cluster");

        // The invoices move to the second silo: dropped where they are, then called first from there (placement prefers
        // the caller's silo).
        await management.ForceActivationCollection(TimeSpan.Zero);
        var otherAddress = other.Services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress;
        foreach (var id in invoices)
        {
            await other.Grains.GetGrain<IInvoiceGrain>(TenantKeys.For(tenant.TenantId, id)).GetAsync();
        }

        var onOther = 0;
        foreach (var id in invoices)
        {
            var address = await management.GetActivationAddress(other.Grains.GetGrain<IInvoiceGrain>(TenantKeys.For(tenant.TenantId, id)));
            onOther += address?.Equals(otherAddress) == true ? 1 : 0;
        }

        output.WriteLine($"{onOther} of {writers} invoices live on the silo that stops.");
        Assert.True(onOther > 0, "no invoice lives on the silo that stops: the test would prove nothing");

        var acknowledged = Enumerable.Range(0, writers).Select(_ => new ConcurrentQueue<string>()).ToArray();
        var failed = new ConcurrentQueue<string>();
        var sent = 0;
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var description = $"w{writer}-{n}";
                using var response = await desk.PostAsJsonAsync($"/api/invoices/{invoices[writer]}/lines", new
                {
                    kind = "service",
                    description,
                    quantity = 1,
                    unitPrice = CheckoutRequests.Usd(10_00),
                }, MedSpaApiFactory.Json);
                Interlocked.Increment(ref sent);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged[writer].Enqueue(description);
                }
                else
                {
                    failed.Enqueue($"POST line {description}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }

                using var read = await desk.GetAsync($"/api/invoices/{invoices[writer]}");
                if (read.StatusCode != HttpStatusCode.OK)
                {
                    failed.Enqueue($"GET invoice {writer}: {(int)read.StatusCode} {await read.Content.ReadAsStringAsync()}");
                }
            }
        }

        var load = Enumerable.Range(0, writers).Select(w => Task.Run(() => WriteAsync(w))).ToArray();
        int sentBeforeStop;
        try
        {
            await Eventually.WaitForAsync(() => Task.FromResult(acknowledged.All(q => q.Count >= 2)), done => done, TimeSpan.FromSeconds(30),
                "every writer has lines acknowledged");
            sentBeforeStop = Volatile.Read(ref sent);
            await other.StopAsync();
            var stoppedAt = Volatile.Read(ref sent);
            output.WriteLine($"{stoppedAt - sentBeforeStop} writes were sent while the silo stopped.");
            // The burst goes on against the grains' new activations.
            await Eventually.WaitForAsync(() => Task.FromResult(Volatile.Read(ref sent)), n => n >= stoppedAt + 2 * writers, TimeSpan.FromSeconds(30),
                "writes go on after the stop");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(load);
        }

        Assert.True(failed.IsEmpty, $"{failed.Count} requests failed:\n" + string.Join("\n", failed.Take(10)));
        for (var w = 0; w < writers; w++)
        {
            var lines = (await desk.GetInvoiceAsync(invoices[w])).GetProperty("lines").EnumerateArray()
                .Select(l => l.GetProperty("line").GetProperty("description").GetString()!).ToList();
            Assert.Equal([.. acknowledged[w]], lines);
        }
    }
}
