using System.Net;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Payments.StripeMock;

namespace MedSpa.Tests.Payments;

/// <summary>Saved cards on the sandbox gateway (the default: no Stripe key configured).</summary>
public sealed class SavedCardsApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static string Cards(Guid patientId) => $"/api/patients/{patientId}/cards";

    private async Task<long> CustomerRowsAsync(Guid tenantId, Guid patientId) =>
        await factory.ScalarAsync<long>(
            "SELECT count(*) FROM payment_customers WHERE tenant_id = @tenantId AND patient_id = @patientId", new { tenantId, patientId });

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
        var page = await desk.SendAsync(HttpMethod.Get, Cards(patientId), null);
        Assert.Equal(4, page.GetProperty("total").GetInt64());
        var cards = page.GetProperty("items");
        Assert.Equal(4, cards.GetArrayLength());
        // The paged shape every list answers: page 2 of size 3 holds the fourth card.
        var second = await desk.SendAsync(HttpMethod.Get, Cards(patientId) + "?page=2&pageSize=3", null);
        Assert.Equal(1, second.GetProperty("items").GetArrayLength());
        Assert.Equal(4, second.GetProperty("total").GetInt64());
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

        var debit = await desk.SendAsync(
            HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_mastercard_debit" }, HttpStatusCode.Created);
        var debitId = debit.GetProperty("paymentMethodId").GetString()!;
        Assert.Equal("debit", debit.GetProperty("funding").GetString());
        Assert.False(debit.GetProperty("isDefault").GetBoolean());

        var listed = (await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items");
        Assert.Equal([visaId, debitId], listed.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        var made = await desk.SendAsync(HttpMethod.Put, $"{Cards(patientId)}/{debitId}/default", null);
        Assert.True(made.GetProperty("isDefault").GetBoolean());
        listed = (await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items");
        Assert.Equal([debitId, visaId], listed.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));
        Assert.Equal([true, false], listed.EnumerateArray().Select(c => c.GetProperty("isDefault").GetBoolean()));

        // Removing the default promotes the remaining card; the row stays, marked removed.
        await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/{debitId}", null, HttpStatusCode.NoContent);
        listed = (await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items");
        var remaining = Assert.Single(listed.EnumerateArray());
        Assert.Equal(visaId, remaining.GetProperty("paymentMethodId").GetString());
        Assert.True(remaining.GetProperty("isDefault").GetBoolean());
        Assert.True(await factory.ScalarAsync<bool>(
            "SELECT removed_at IS NOT NULL FROM saved_cards WHERE tenant_id = @TenantId AND payment_method_id = @debitId",
            new { tenant.TenantId, debitId }));

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
        var malformed = await desk.SendAsync(
            HttpMethod.Post, Cards(patientId), new { paymentMethodId = "card number please" }, HttpStatusCode.BadRequest);
        Assert.True(malformed.GetProperty("errors").TryGetProperty("paymentMethodId", out _));
        await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = 42 }, HttpStatusCode.BadRequest);

        var unknown = await desk.SendAsync(
            HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_does_not_exist" }, HttpStatusCode.UnprocessableEntity);
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
        var own = (await me.SendAsync(HttpMethod.Get, Cards(mine), null)).GetProperty("items");
        Assert.Equal([visa], own.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        // Another patient's cards look absent, for every verb, and nothing of theirs changes.
        await me.SendAsync(HttpMethod.Get, Cards(theirs), null, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Post, Cards(theirs), new { paymentMethodId = "pm_card_discover" }, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Post, Cards(theirs) + "/setup-intent", new { }, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Put, $"{Cards(theirs)}/{theirCard}/default", null, HttpStatusCode.NotFound);
        await me.SendAsync(HttpMethod.Delete, $"{Cards(theirs)}/{theirCard}", null, HttpStatusCode.NotFound);
        // Nor can their card be reached through my own patient id.
        await me.SendAsync(HttpMethod.Delete, $"{Cards(mine)}/{theirCard}", null, HttpStatusCode.NotFound);
        var theirList = (await desk.SendAsync(HttpMethod.Get, Cards(theirs), null)).GetProperty("items");
        Assert.Equal([theirCard], theirList.EnumerateArray().Select(c => c.GetProperty("paymentMethodId").GetString()));

        // A patient user not linked to any patient reaches no one.
        using var unlinked = tenant.ClientFor(await tenant.CreatePatientUserAsync(null));
        await unlinked.SendAsync(HttpMethod.Get, Cards(mine), null, HttpStatusCode.NotFound);
    }
}

/// <summary>Saved cards with the gateway on Stripe (the loopback Stripe mock): what the server sends to Stripe.</summary>
public sealed class SavedCardsOnStripeTests(StripeMockApiFactory factory) : IClassFixture<StripeMockApiFactory>
{
    private static string Cards(Guid patientId) => $"/api/patients/{patientId}/cards";

    [Fact]
    public async Task The_saved_card_flow_sends_stripe_the_customer_setup_intent_attach_default_and_detach()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync("Stella", "Stripe");
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var before = factory.Stripe.Requests.Count;

        var setup = await desk.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { }, idempotencyKey: "setup-1");
        Assert.Equal("stripe", setup.GetProperty("gateway").GetString());
        Assert.Equal("pk_test_medspa_mock", setup.GetProperty("publishableKey").GetString());
        var customerId = await factory.ScalarAsync<string>(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @TenantId AND patient_id = @patientId AND gateway = 'stripe'",
            new { tenant.TenantId, patientId });

        var visa = (await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created))
            .GetProperty("paymentMethodId").GetString()!;
        var amex = (await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_amex" }, HttpStatusCode.Created))
            .GetProperty("paymentMethodId").GetString()!;
        await desk.SendAsync(HttpMethod.Put, $"{Cards(patientId)}/{amex}/default", null);
        await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/{visa}", null, HttpStatusCode.NoContent);

        var sent = factory.Stripe.Requests.Skip(before).Where(r => r.StatusCode is >= 200 and < 300).ToList();
        Assert.All(sent, r => Assert.Equal("Bearer " + factory.Stripe.SecretKey, r.Authorization));

        var customer = Assert.Single(sent, r => r is { Method: "POST", Path: "/v1/customers" });
        Assert.Equal("Stella Stripe", customer.Field("name"));
        Assert.Equal(tenant.TenantId.ToString(), customer.Field("metadata[tenant_id]"));
        Assert.Equal(patientId.ToString(), customer.Field("metadata[patient_id]"));
        Assert.Equal($"customer:{tenant.TenantId:N}:{patientId:N}", customer.IdempotencyKey);

        var setupIntent = Assert.Single(sent, r => r is { Method: "POST", Path: "/v1/setup_intents" });
        Assert.Equal(customerId, setupIntent.Field("customer"));
        Assert.Equal($"setup-intent:{tenant.TenantId:N}:{patientId:N}:setup-1", setupIntent.IdempotencyKey);
        Assert.Equal(
            setup.GetProperty("setupIntentId").GetString(),
            factory.Stripe.Find(setup.GetProperty("setupIntentId").GetString()!)?["id"]?.GetValue<string>());

        var attaches = sent.Where(r => r.Method == "POST" && r.Path.EndsWith("/attach", StringComparison.Ordinal)).ToList();
        Assert.Equal(["/v1/payment_methods/pm_card_visa/attach", "/v1/payment_methods/pm_card_amex/attach"], attaches.Select(r => r.Path));
        Assert.All(attaches, r => Assert.Equal(customerId, r.Field("customer")));
        Assert.All(attaches, r => Assert.StartsWith($"attach:{tenant.TenantId:N}:{patientId:N}:", r.IdempotencyKey, StringComparison.Ordinal));
        Assert.NotEqual(attaches[0].IdempotencyKey, attaches[1].IdempotencyKey);

        var makeDefault = Assert.Single(sent, r => r.Method == "POST" && r.Path == $"/v1/customers/{customerId}");
        Assert.Equal(amex, makeDefault.Field("invoice_settings[default_payment_method]"));
        var detach = Assert.Single(sent, r => r.Method == "POST" && r.Path == $"/v1/payment_methods/{visa}/detach");
        Assert.Equal($"detach:{tenant.TenantId:N}:{visa}", detach.IdempotencyKey);

        var listed = (await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items");
        var only = Assert.Single(listed.EnumerateArray());
        Assert.Equal((amex, "amex", "0005", true, "stripe"), (only.GetProperty("paymentMethodId").GetString(), only.GetProperty("brand").GetString(),
            only.GetProperty("last4").GetString(), only.GetProperty("isDefault").GetBoolean(), only.GetProperty("gateway").GetString()));
    }

    [Fact]
    public async Task Stripe_unavailable_is_503_payment_gateway_unavailable_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        // The first try and every retry (Payments:Stripe:MaxRetries, 3 by default) fail.
        factory.Stripe.FailNext(4, StripeMockFailure.ServiceUnavailable);
        var problem = await desk.SendAsync(
            HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        factory.Stripe.FailNext(4, StripeMockFailure.DropConnection);
        problem = await desk.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { }, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        Assert.Equal(
            0, await factory.ScalarAsync<long>("SELECT count(*) FROM payment_customers WHERE tenant_id = @TenantId", new { tenant.TenantId }));

        // Once Stripe answers again the same calls work, and still make one customer.
        await desk.SendAsync(HttpMethod.Post, Cards(patientId), new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);
        var card = (await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items")[0].GetProperty("paymentMethodId").GetString()!;
        factory.Stripe.FailNext(4, StripeMockFailure.ServerError);
        problem = await desk.SendAsync(HttpMethod.Delete, $"{Cards(patientId)}/{card}", null, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("payment_gateway_unavailable", problem.GetProperty("code").GetString());
        Assert.Single((await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items").EnumerateArray()); // not removed
        Assert.Equal(
            1, await factory.ScalarAsync<long>("SELECT count(*) FROM payment_customers WHERE tenant_id = @TenantId", new { tenant.TenantId }));
    }

    [Fact]
    public async Task A_setup_intent_webhook_fetches_the_card_stripe_js_attached()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var setup = await desk.SendAsync(HttpMethod.Post, Cards(patientId) + "/setup-intent", new { });
        var customerId = await factory.ScalarAsync<string>(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @TenantId AND patient_id = @patientId", new { tenant.TenantId, patientId });

        // What Stripe.js and Stripe do in the browser: the card is attached to the customer without this server.
        using var stripe = new HttpClient { BaseAddress = new Uri(factory.Stripe.BaseUrl) };
        stripe.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", factory.Stripe.SecretKey);
        using var attach = await stripe.PostAsync("/v1/payment_methods/pm_card_mastercard/attach",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["customer"] = customerId }));
        Assert.Equal(HttpStatusCode.OK, attach.StatusCode);
        var paymentMethodId = (await attach.ReadJsonAsync()).GetProperty("id").GetString()!;

        var payload = $$"""
            {
              "id": "evt_{{Guid.NewGuid():N}}",
              "object": "event",
              "api_version": "2025-10-29.clover",
              "created": {{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}},
              "data": { "object": {
                "id": "{{setup.GetProperty("setupIntentId").GetString()}}",
                "object": "setup_intent",
                "customer": "{{customerId}}",
                "last_setup_error": null,
                "livemode": false,
                "metadata": {},
                "payment_method": "{{paymentMethodId}}",
                "payment_method_types": ["card"],
                "status": "succeeded",
                "usage": "off_session"
              } },
              "livemode": false,
              "pending_webhooks": 1,
              "request": { "id": null, "idempotency_key": null },
              "type": "setup_intent.succeeded"
            }
            """;
        using var anonymous = factory.CreateClient();
        using var request = new HttpRequestMessage(
            HttpMethod.Post, "/api/webhooks/stripe") { Content = new StringContent(payload, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation(
            "Stripe-Signature", PaymentApiTestSupport.StripeSignature(payload, factory.WebhookSecret, DateTimeOffset.UtcNow));
        using var response = await anonymous.SendAsync(request);
        var body = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.GetProperty("applied").GetBoolean(), body.GetRawText());

        var card = Assert.Single((await desk.SendAsync(HttpMethod.Get, Cards(patientId), null)).GetProperty("items").EnumerateArray());
        Assert.Equal(
            (paymentMethodId, "mastercard", "4444", true), (card.GetProperty("paymentMethodId").GetString(), card.GetProperty("brand").GetString(),
            card.GetProperty("last4").GetString(), card.GetProperty("isDefault").GetBoolean()));
    }
}
