using Npgsql;
using Dapper;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Packages.Api.PackageApiWorld;

namespace MedSpa.Tests.Packages.Api;

/// <summary>Redeeming from a named package and undoing it, through <c>POST /api/packages/{id}/redemptions</c>.</summary>
public sealed class PackageRedemptionApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Redemption_answers_what_was_taken_the_additional_charge_the_compensation_and_what_is_left()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials(additionalCharge: 1500, compensation: 3000));

        var (status, body) = await RedeemAsync(world.Desk, id, world.Redemption(providerId: world.ProviderId), Key());

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(id, body.GetProperty("purchaseId").GetGuid());
        Assert.Equal("HydraFacial x3", body.GetProperty("packageName").GetString());
        var redemption = body.GetProperty("redemption");
        Assert.Equal("committed", redemption.GetProperty("state").GetString());
        Assert.Equal(1, redemption.GetProperty("quantity").GetInt32());
        Assert.Equal(world.Facial, redemption.GetProperty("serviceId").GetGuid());
        Assert.Equal(world.Owner, redemption.GetProperty("patientId").GetGuid());
        Assert.Equal(world.DeskUser.UserId, redemption.GetProperty("by").GetGuid());
        Assert.Equal(10000, redemption.Amount("value"));
        Assert.Equal(1500, body.Amount("additionalCharge"));
        Assert.Equal(3000, body.Amount("staffCompensation"));
        Assert.Equal(2, body.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(20000, body.GetProperty("remaining").Amount("liabilityLeft"));

        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(2, package.GetProperty("sessionsLeft").GetInt32());
        Assert.Equal("active", package.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_resent_key_or_operation_id_answers_the_first_answer_and_takes_nothing_more()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var key = Key();

        var first = await RedeemAsync(world.Desk, id, world.Redemption(), key);
        var again = await RedeemAsync(world.Desk, id, world.Redemption(), key);
        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(first.Body.GetRawText(), again.Body.GetRawText());

        // Without the header, the operation id in the body is the key: the grain answers a replay with its first answer.
        var op = Key();
        var byBody = await RedeemAsync(world.Desk, id, world.Redemption(operationId: op), null);
        var byBodyAgain = await RedeemAsync(world.Desk, id, world.Redemption(operationId: op), null);
        Assert.Equal(HttpStatusCode.Created, byBody.Status);
        Assert.Equal(HttpStatusCode.Created, byBodyAgain.Status);
        Assert.Equal(byBody.Body.GetProperty("redemption").GetRawText(), byBodyAgain.Body.GetProperty("redemption").GetRawText());

        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(1, package.GetProperty("sessionsLeft").GetInt32());
    }

    [Fact]
    public async Task A_key_whose_record_was_lost_still_answers_the_first_redemption_and_takes_nothing_more()
    {
        // The redemption route stores its key record without waiting for the disk (the grain replays by the key
        // itself): lose the record, as a database crash could, and the retry must still take nothing more.
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var key = Key();
        var first = await RedeemAsync(world.Desk, id, world.Redemption(), key);
        Assert.Equal(HttpStatusCode.Created, first.Status);
        await using (var conn = new NpgsqlConnection(world.Factory.ConnectionString))
        {
            Assert.Equal(1, await conn.ExecuteAsync(
                "DELETE FROM idempotency_records WHERE tenant_id = @TenantId AND idempotency_key = @key AND state = 'completed'",
                new { world.Tenant.TenantId, key }));
        }

        var retried = await RedeemAsync(world.Desk, id, world.Redemption(), key);
        Assert.Equal(HttpStatusCode.Created, retried.Status);
        Assert.Equal(first.Body.GetProperty("redemption").GetRawText(), retried.Body.GetProperty("redemption").GetRawText());
        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(first.Body.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32(), package.GetProperty("sessionsLeft").GetInt32());

        // And the key keeps its other promise: reused for another request it is refused.
        var reused = await RedeemAsync(world.Desk, id, world.Redemption(quantity: 2), key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.Status);
    }

    [Fact]
    public async Task Without_a_key_or_operation_id_the_redemption_is_refused_and_nothing_is_taken()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());

        var (status, body) = await RedeemAsync(world.Desk, id, world.Redemption(), null);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("validation_failed", body.GetProperty("code").GetString());
        Assert.True(body.GetProperty("errors").TryGetProperty("operationId", out _));
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null)).GetProperty("sessionsLeft").GetInt32());
    }

    [Fact]
    public async Task A_key_longer_than_an_operation_id_may_be_is_400_naming_the_header()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());

        var (status, body) = await RedeemAsync(world.Desk, id, world.Redemption(), new string('k', 101));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("Idempotency-Key", out _), body.ToString());
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null)).GetProperty("sessionsLeft").GetInt32());
    }

    [Fact]
    public async Task Refusals_carry_a_stable_code_and_a_sentence_to_read_aloud()
    {
        var world = await CreateAsync(factory);
        var one = await world.SellAsync(world.Facials(quantity: 1, price: 10000));
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, one, world.Redemption(), Key())).Status);

        await AssertRefusedAsync(world, one, world.Redemption(), PackageRefusals.InsufficientBalance);
        var three = await world.SellAsync(world.Facials());
        await AssertRefusedAsync(world, three, world.Redemption(service: world.Botox), PackageRefusals.NotEligible);

        // The clinic's local date today is a blackout date of this package.
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow,
            TimeZoneInfo.FindSystemTimeZoneById("America/New_York")).DateTime);
        var blackout = await world.SellAsync(world.Facials(restrictions: new PackageRestrictions([today], [], [])));
        await AssertRefusedAsync(world, blackout, world.Redemption(), PackageRefusals.RestrictedBlackout);

        var otherProvider = await Receipts.ReceiptRequests.CreateProviderAsync(world.Tenant, "Dr. Other");
        var providerOnly = await world.SellAsync(world.Facials(restrictions: new PackageRestrictions([], [], [otherProvider])));
        await AssertRefusedAsync(world, providerOnly, world.Redemption(providerId: world.ProviderId), PackageRefusals.RestrictedProvider);
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, providerOnly, world.Redemption(providerId: otherProvider), Key())).Status);

        var notToday = (DayOfWeek)(((int)today.DayOfWeek + 3) % 7);
        var windowed = await world.SellAsync(world.Facials(
            restrictions: new PackageRestrictions([], [new PackageTimeWindow(notToday, new TimeOnly(0, 0), new TimeOnly(23, 59))], [])));
        await AssertRefusedAsync(world, windowed, world.Redemption(), PackageRefusals.RestrictedTime);

        // Sold 60 days ago, valid for 30: expired even before the expiry reminder flips its status.
        var lapsed = await world.SellAsync(world.Facials(expiresAfterDays: 30), purchasedAt: DateTimeOffset.UtcNow.AddDays(-60));
        await AssertRefusedAsync(world, lapsed, world.Redemption(), PackageRefusals.Expired);

        // A stranger to the package (another patient of the organisation who is no member).
        await AssertRefusedAsync(world, three, world.Redemption(patientId: world.Relative), PackageRefusals.NotMember);
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{three}", null)).GetProperty("sessionsLeft").GetInt32());
    }

    private static async Task AssertRefusedAsync(PackageApiWorld world, Guid id, object body, params string[] codes)
    {
        var (status, problem) = await RedeemAsync(world.Desk, id, body, Key());
        Assert.True(status is HttpStatusCode.UnprocessableEntity or HttpStatusCode.Conflict, $"{(int)status}: {problem}");
        Assert.Contains(problem.GetProperty("code").GetString(), codes);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Reversal_restores_exactly_what_the_redemption_took_once()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var op = Key();
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, id, world.Redemption(quantity: 2), op)).Status);

        var reversed = await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/redemptions/{op}/reversal", new { reason = "wrong patient" });
        Assert.Equal("reversed", reversed.GetProperty("redemption").GetProperty("state").GetString());
        Assert.Equal(3, reversed.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(30000, reversed.GetProperty("remaining").Amount("liabilityLeft"));

        // Again (a retry without a key): the same reversal, nothing restored twice.
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/redemptions/{op}/reversal", new { reason = "wrong patient" });
        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(3, package.GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(30000, package.Amount("liabilityLeft"));

        var unknown = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{id}/redemptions/{Key()}/reversal", null);
        Assert.True(unknown.Status is HttpStatusCode.NotFound or HttpStatusCode.UnprocessableEntity or HttpStatusCode.Conflict,
            $"{(int)unknown.Status}: {unknown.Body}");
    }

    [Fact]
    public async Task History_lists_who_what_when_where_and_by_whom_paged()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var first = Key();
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Desk, id, world.Redemption(providerId: world.ProviderId), first)).Status);
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(world.Admin, id, world.Redemption(), Key())).Status);
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{id}/redemptions/{first}/reversal", null);
        await world.FlushAsync(id);

        var history = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}/history", null);
        Assert.Equal(2, history.GetProperty("total").GetInt64());
        var rows = history.GetProperty("items").EnumerateArray().ToList();
        var reversed = Assert.Single(rows, r => r.GetProperty("operationId").GetString() == first);
        Assert.Equal("reversed", reversed.GetProperty("state").GetString());
        Assert.Equal("Olivia Owner", reversed.GetProperty("patientName").GetString());
        Assert.Equal("HydraFacial", reversed.GetProperty("serviceName").GetString());
        Assert.Equal("Main clinic", reversed.GetProperty("clinicName").GetString());
        Assert.Equal("Dr. Rivera", reversed.GetProperty("providerName").GetString());
        Assert.Equal("front-desk user", reversed.GetProperty("byName").GetString());
        Assert.Equal(10000, reversed.Amount("value"));
        var other = Assert.Single(rows, r => r.GetProperty("operationId").GetString() != first);
        Assert.Equal("committed", other.GetProperty("state").GetString());
        Assert.Equal("owner user", other.GetProperty("byName").GetString());

        var page = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}/history?page=2&pageSize=1", null);
        Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal(2, page.GetProperty("total").GetInt64());
        await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}/history?pageSize=0", null, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_bank_redeems_amounts_in_the_packages_currency()
    {
        var world = await CreateAsync(factory);
        var bank = await world.SellAsync(world.BotoxBank());

        var (status, body) = await RedeemAsync(world.Desk, bank,
            world.Redemption(service: world.Botox, amount: CheckoutRequests.Usd(25000)), Key());
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(75000, body.GetProperty("remaining").Amount("creditLeft"));

        var euros = await RedeemAsync(world.Desk, bank, world.Redemption(service: world.Botox, amount: new { amount = 100, currency = "EUR" }), Key());
        Assert.Equal(HttpStatusCode.BadRequest, euros.Status);
        Assert.True(euros.Body.GetProperty("errors").TryGetProperty("amount.currency", out _));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"serviceId\": \"nope\", \"clinicId\": \"00000000-0000-0000-0000-000000000001\"}")]
    [InlineData("{\"quantity\": \"three\"}")]
    [InlineData("[]")]
    [InlineData("{\"operationId\": \"has space\", \"serviceId\": \"00000000-0000-0000-0000-000000000001\"}")]
    public async Task Malformed_bodies_are_400_and_take_nothing(string json)
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/packages/{id}/redemptions")
        {
            Content = new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.Add("Idempotency-Key", Key());
        using var response = await world.Desk.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(3, (await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null)).GetProperty("sessionsLeft").GetInt32());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public async Task Quantity_out_of_range_is_400_naming_it(int quantity)
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var (status, body) = await RedeemAsync(world.Desk, id, world.Redemption(quantity: quantity), Key());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("quantity", out _));
    }

    [Fact]
    public async Task Booked_after_the_service_is_400()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials());
        var at = DateTimeOffset.UtcNow;
        var (status, body) = await RedeemAsync(world.Desk, id,
            new { serviceId = world.Facial, clinicId = world.ClinicId, at, bookedAt = at.AddHours(1) }, Key());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("bookedAt", out _));
    }
}
