using System.Net;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Infrastructure;

namespace MedSpa.Tests.Payments;

/// <summary>Saved cards on the sandbox gateway (the default: no Stripe key configured).</summary>
public sealed class SavedCardsApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static string Cards(Guid patientId) => $"/api/patients/{patientId}/cards";

    private async Task<long> CustomerRowsAsync(Guid tenantId, Guid patientId) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM payment_customers WHERE tenant_id = @tenantId AND patient_id = @patientId", new { tenantId, patientId });

    private async Task<long> CardRowsAsync(Guid tenantId) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM saved_cards WHERE tenant_id = @tenantId", new { tenantId });

    [Fact]
    public async Task Setup_intent_creates_the_gateway_customer_once_and_answers_a_client_secret()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var first = await desk.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { });
        var setupIntentId = first.GetProperty("setupIntentId").GetString()!;
        Assert.StartsWith("seti_", setupIntentId, StringComparison.Ordinal);
        Assert.StartsWith(setupIntentId + "_secret_", first.GetProperty("clientSecret").GetString(), StringComparison.Ordinal);
        Assert.Equal("sandbox", first.GetProperty("gateway").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("publishableKey").ValueKind);

        var second = await desk.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { });
        Assert.NotEqual(setupIntentId, second.GetProperty("setupIntentId").GetString());
        Assert.Equal(1, await CustomerRowsAsync(tenant.TenantId, patientId));
        Assert.StartsWith("cus_", await factory.ScalarAsync<string>(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @TenantId", new { tenant.TenantId }), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_first_calls_create_one_customer()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var calls = Enumerable.Range(0, 8).Select(i => i % 2 == 0
            ? desk.TrySendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { })
            : desk.TrySendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }));
        var results = await Task.WhenAll(calls);

        Assert.All(results, r => Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.Created, r.Body.GetRawText()));
        Assert.Equal(1, await CustomerRowsAsync(tenant.TenantId, patientId));
        var cards = await desk.SendAsync(HttpMethod.Get, Cards(patientId), null);
        Assert.Equal(4, cards.GetArrayLength());
        Assert.Single(cards.EnumerateArray(), c => c.GetProperty("isDefault").GetBoolean());
    }

    [Fact]
    public async Task Save_list_set_default_and_remove()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var visa = await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);
        var visaId = visa.GetProperty("paymentMethodId").GetString()!;
        Assert.StartsWith("pm_", visaId, StringComparison.Ordinal);
        Assert.Equal("visa", visa.GetProperty("brand").GetString());
        Assert.Equal("credit", visa.GetProperty("funding").GetString());
        Assert.Equal("4242", visa.GetProperty("last4").GetString());
        Assert.InRange(visa.GetProperty("expYear").GetInt32(), DateTime.UtcNow.Year, DateTime.UtcNow.Year + 10);
        Assert.True(visa.GetProperty("isDefault").GetBoolean()); // the first card becomes the default

        var debit = await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_mastercard_debit" }, HttpStatusCode.Created);
        var debitId = debit.GetProperty("paymentMethodId").GetString()!;
        Assert.Equal("debit", debit.GetProperty("funding").GetString());
        Assert.False(debit.GetProperty("isDefault").GetBoolean());

        var listed = await desk.SendAsync(HttpMethod.Get, Cards(patientId), null);
        Assert.Equal([visaId, debitId], listed.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        var made = await desk.SendAsync(HttpMethod.Put, $"{Cards(patientId)}/{debitId}/default", null);
        Assert.True(made.GetProperty("isDefault").GetBoolean());
        listed = await desk.SendAsync(HttpMethod.Get, Cards(patientId), null);
        Assert.Equal([debitId, visaId], listed.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));
        Assert.Equal([true, false], listed.EnumerateArray().Select(c => c.GetProperty("isDefault").GetBoolean()));

        // Removing the default promotes the remaining card; the row stays, marked removed.
        await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/{debitId}", null, HttpStatusCode.NoContent);
        listed = await desk.SendAsync(HttpMethod.Get, Cards(patientId), null);
        var remaining = Assert.Single(listed.EnumerateArray());
        Assert.Equal(visaId, remaining.GetProperty("paymentMethodId").GetString());
        Assert.True(remaining.GetProperty("isDefault").GetBoolean());
        Assert.True(await factory.ScalarAsync<bool>(
            "SELECT removed_at IS NOT NULL FROM saved_cards WHERE tenant_id = @TenantId AND payment_method_id = @debitId", new { tenant.TenantId, debitId }));

        // Gone is gone: a second delete or making it the default finds nothing.
        await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/{debitId}", null, HttpStatusCode.NotFound);
        await desk.SendAsync(HttpMethod.Put, $"{Cards(patientId)}/{debitId}/default", null, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Bad_input_is_4xx_and_saves_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var missing = await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { }, HttpStatusCode.BadRequest);
        Assert.True(missing.GetProperty("errors").TryGetProperty("paymentMethodId", out _));
        var malformed = await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "card number please" }, HttpStatusCode.BadRequest);
        Assert.True(malformed.GetProperty("errors").TryGetProperty("paymentMethodId", out _));
        await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = 42 }, HttpStatusCode.BadRequest);

        var unknown = await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_does_not_exist" }, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("payment_method_rejected", unknown.GetProperty("code").GetString());

        await desk.SendAsync(HttpMethod.Post, Cards(Guid.NewGuid()), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.NotFound);
        await desk.SendAsync(HttpMethod.Post, Cards(Guid.NewGuid()) + "/setup-intent", new { }, HttpStatusCode.NotFound);
        await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/pm_nothing_here", null, HttpStatusCode.NotFound);
        await desk.SendAsync(HttpMethod.Put, $"{Cards(patientId)}/pm_nothing_here/default", null, HttpStatusCode.NotFound);

        Assert.Equal(0, await CardRowsAsync(tenant.TenantId));
    }

    [Fact]
    public async Task Another_tenants_patient_looks_absent_and_roles_below_front_desk_are_refused()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);

        using var otherOwner = other.ClientFor(other.Owner);
        var absent = await otherOwner.SendAsync(HttpMethod.Get, Cards(patientId), null, HttpStatusCode.NotFound);
        Assert.Equal("not_found", absent.GetProperty("code").GetString());
        await otherOwner.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_amex" }, HttpStatusCode.NotFound);
        await otherOwner.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { }, HttpStatusCode.NotFound);

        using var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        await provider.SendAsync(HttpMethod.Get, Cards(patientId), null, HttpStatusCode.Forbidden);
        using var anonymous = factory.CreateClient();
        await anonymous.SendAsync(HttpMethod.Get, Cards(patientId), null, HttpStatusCode.Unauthorized);

        Assert.Equal(1, await CardRowsAsync(tenant.TenantId));
        Assert.Equal(0, await CardRowsAsync(other.TenantId));
    }

    [Fact]
    public async Task A_patient_manages_their_own_cards_and_never_sees_another_patients()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var mine = await tenant.CreatePatientAsync("Mia", "Mine");
        var theirs = await tenant.CreatePatientAsync("Theo", "Theirs");
        using var me = tenant.ClientFor(await tenant.CreatePatientUserAsync(mine));
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var theirCard = (await desk.SendAsync(HttpMethod.Post, Cards(theirs), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created))
            .GetProperty("paymentMethodId").GetString()!;

        var setup = await me.SendAsync(HttpMethod.Post, Cards(mine) + "/setup-intent", new { });
        Assert.Equal("sandbox", setup.GetProperty("gateway").GetString());
        var amex = (await me.SendAsync(HttpMethod.Post, Cards(mine), new { paymentMethodId = "pm_card_amex" }, HttpStatusCode.Created))
            .GetProperty("paymentMethodId").GetString()!;
        var visa = (await me.SendAsync(HttpMethod.Post, Cards(mine), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created))
            .GetProperty("paymentMethodId").GetString()!;
        await me.SendAsync(HttpMethod.Put, $"{Cards(mine)}/{visa}/default", null);
        await me.SendAsync(HttpMethod.Delete, $"{Cards(mine)}/{amex}", null, HttpStatusCode.NoContent);
        var own = await me.SendAsync(HttpMethod.Get, Cards(mine), null);
        Assert.Equal([visa], own.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        // Another patient's cards look absent, for every verb, and nothing of theirs changes.
        await me.SendAsync(HttpMethod.Get, Cards(theirs), null, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Post, Cards(theirs), new { paymentMethodId = "pm_card_discover" }, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Post, Cards(theirs) + "/setup-intent", new { }, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Put, $"{Cards(theirs)}/{theirCard}/default", null, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Delete, $"{Cards(theirs)}/{theirCard}", null, HttpStatusCode.NotFound);
        // Nor can their card be reached through my own patient id.
        await me.SendAsync(HttpMethod.Delete, $"{Cards(mine)}/{theirCard}", null, HttpStatusCode.NotFound);
        var theirList = await desk.SendAsync(HttpMethod.Get, Cards(theirs), null);
        Assert.Equal([theirCard], theirList.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        // A patient user not linked to any patient reaches no one.
        using var unlinked = tenant.ClientFor(await tenant.CreatePatientUserAsync(null));
        await unlinked.SendAsync(HttpMethod.Get, Cards(mine), null, HttpStatusCode.NotFound);
    }
}
