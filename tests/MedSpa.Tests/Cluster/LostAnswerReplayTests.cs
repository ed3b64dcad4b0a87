using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Issue 19 §1: a command whose effect was applied but whose answer was lost (the silo died between the grain's write and
/// its answer) leaves no stored idempotency record: the api frees the key of an execution that threw, so the retry
/// executes afresh. The grain must then recognise the resend by its key and answer it as done, not refuse it against the
/// state it already produced. Room, provider and invoice commands without a key are recognised the same way, by the
/// operation id the api gives the request (the same in each of its executions). Other keyless writes, and keyed ones to
/// endpoints that ignore the key, are not executed again at all.
/// </summary>
public sealed partial class LostAnswerReplayTests(FaultInjectionFactory factory) : IClassFixture<FaultInjectionFactory>
{
    private static SiloUnavailableException SiloDied() => new("The silo died after the room's write, before its answer (injected).");

    private static async Task<(HttpStatusCode Status, string Body, bool Replayed)> SendAsync(
        HttpClient client, string url, object body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = System.Net.Http.Json.JsonContent.Create(body, options: MedSpaApiFactory.Json),
        };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Contains("Idempotency-Replayed"));
    }

    private static string Code(string body) => JsonDocument.Parse(body).RootElement.GetProperty("code").GetString()!;

    [Fact]
    public async Task A_room_taken_out_of_service_whose_answer_was_lost_is_answered_as_done_when_executed_again_with_its_key()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 0, rooms: 1);
        using var desk = world.Desk();
        var room = world.Rooms[0];
        var key = "oos-" + Guid.NewGuid().ToString("N");
        factory.Faults.LoseNextAnswers(world.TenantId, "TakeOutOfServiceAsync", SiloDied());

        // The api executes the keyed request again by itself (the first execution threw): the room already applied it.
        var (status, body, _) = await SendAsync(desk, $"/api/rooms/{room}/out-of-service", new { reason = "Laser service" }, key);

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        var card = JsonDocument.Parse(body).RootElement;
        Assert.Equal("out-of-service", card.GetProperty("status").GetString());
        Assert.Equal("Laser service", card.GetProperty("outOfServiceReason").GetString());
        Assert.Equal(2, factory.Faults.Passed(world.TenantId, "TakeOutOfServiceAsync"));

        // The desk's own resend gets the stored answer; the room is out of service once.
        var resent = await SendAsync(desk, $"/api/rooms/{room}/out-of-service", new { reason = "Laser service" }, key);
        Assert.Equal(HttpStatusCode.OK, resent.Status);
        Assert.True(resent.Replayed);
        Assert.Equal(body, resent.Body);
        var now = await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync();
        Assert.Equal("out-of-service", now.GetProperty("status").GetString());

        // A new operation is a new key, and is still judged by the rules.
        await desk.PostJson($"/api/rooms/{room}/out-of-service", new { reason = "again" }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
    }

    [Fact]
    public async Task A_room_change_answered_503_after_its_effect_is_answered_with_the_first_card_when_the_desk_resends_it()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 0, rooms: 1);
        using var desk = world.Desk();
        var room = world.Rooms[0];
        await desk.PostJson($"/api/rooms/{room}/out-of-service", new { reason = "Broken bed" }).OkJsonAsync();
        var key = "ins-" + Guid.NewGuid().ToString("N");

        // Every answer is lost for longer than the request budget (4 s here): the desk is told 503, the room is back in service.
        factory.Faults.LoseNextAnswers(world.TenantId, "ReturnToServiceAsync", Enumerable.Range(0, 10_000).Select(_ => (Exception)SiloDied()).ToArray());
        var failed = await SendAsync(desk, $"/api/rooms/{room}/in-service", new { }, key);
        factory.Faults.Heal(world.TenantId, "ReturnToServiceAsync");
        Assert.True(failed.Status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)failed.Status}: {failed.Body}");
        Assert.Equal("cluster_unavailable", Code(failed.Body));
        Assert.Equal("empty", (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());

        // The desk resends with the same key once the cluster is whole: done, not "not allowed now".
        var (status, body, replayed) = await SendAsync(desk, $"/api/rooms/{room}/in-service", new { }, key);
        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.False(replayed); // no stored record survived the failure: the room itself recognised the operation
        Assert.Equal("empty", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_provider_put_on_duty_whose_answer_was_lost_is_answered_as_done_when_executed_again_with_its_key()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 1, rooms: 0);
        using var desk = world.Desk();
        var provider = world.Providers[0];
        var key = "duty-" + Guid.NewGuid().ToString("N");
        factory.Faults.LoseNextAnswers(world.TenantId, "GoOnDutyAsync", SiloDied());

        var (status, body, _) = await SendAsync(desk, $"/api/providers/{provider}/on-duty", new { }, key);

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal(2, factory.Faults.Passed(world.TenantId, "GoOnDutyAsync"));
        Assert.Equal("waiting", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        await desk.PostJson($"/api/providers/{provider}/on-duty", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
    }

    private static async Task<(HttpStatusCode Status, string Body)> SendKeylessAsync(HttpClient client, string url, object body)
    {
        using var response = await client.PostAsync(url, System.Net.Http.Json.JsonContent.Create(body, options: MedSpaApiFactory.Json));
        Assert.False(response.Headers.Contains("Idempotency-Replayed"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_keyless_room_command_whose_answer_was_lost_is_answered_once_and_applied_once()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 0, rooms: 1);
        using var desk = world.Desk();
        var room = world.Rooms[0];
        await desk.PostJson($"/api/rooms/{room}/out-of-service", new { reason = "Broken bed" }).OkJsonAsync();
        factory.Faults.LoseNextAnswers(world.TenantId, "ReturnToServiceAsync", SiloDied());

        // No Idempotency-Key: the request's own operation id, the same in the api's re-execution, lets the room recognise
        // the change it applied before its answer was lost — answered 200 with the first card, not 503 nor 409.
        var (status, body) = await SendKeylessAsync(desk, $"/api/rooms/{room}/in-service", new { });

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal("empty", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        Assert.Equal(2, factory.Faults.Passed(world.TenantId, "ReturnToServiceAsync"));
        Assert.Equal("empty", (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());

        // A new keyless request is a new operation: judged by the rules against the room as it is, applied once.
        await desk.PostJson($"/api/rooms/{room}/in-service", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
        Assert.Equal(3, factory.Faults.Passed(world.TenantId, "ReturnToServiceAsync"));
        await desk.PostJson($"/api/rooms/{room}/out-of-service", new { reason = "Again" }).OkJsonAsync();
        Assert.Equal("out-of-service", (await desk.GetAsync($"/api/rooms/{room}/status").OkJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_keyless_provider_command_that_failed_before_reaching_the_grain_is_executed_again_and_applied_once()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 1, rooms: 0);
        using var desk = world.Desk();
        var provider = world.Providers[0];
        factory.Faults.FailNext(world.TenantId, "GoOnDutyAsync", SiloDied());
        factory.Faults.LoseNextAnswers(world.TenantId, "GoOnDutyAsync", SiloDied());

        // Refused in transit once, then applied with its answer lost: the third execution is answered by the provider.
        var (status, body) = await SendKeylessAsync(desk, $"/api/providers/{provider}/on-duty", new { });

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal("waiting", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        Assert.Equal(0, factory.Faults.Pending(world.TenantId, "GoOnDutyAsync"));
        Assert.Equal(2, factory.Faults.Passed(world.TenantId, "GoOnDutyAsync"));
        await desk.PostJson($"/api/providers/{provider}/on-duty", new { }).ProblemAsync(HttpStatusCode.Conflict, "invalid_transition");
    }

    [Fact]
    public async Task A_room_refuses_an_operation_id_it_applied_to_a_different_command()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 0, providers: 0, rooms: 1);
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var room = grains.GetGrain<IRoomGrain>(BoardKeys.For(world.TenantId, world.Rooms[0]));
        var context = new ChangeContext(Guid.NewGuid(), "test-device", DateTimeOffset.UtcNow);
        var operation = "user/" + Guid.NewGuid().ToString("N");

        var first = await room.TakeOutOfServiceAsync("Flooded", context, operation);
        var again = await room.TakeOutOfServiceAsync("Flooded", context, operation);
        var other = await room.ReturnToServiceAsync(context, operation);

        Assert.True(first.Accepted);
        Assert.Equal(first, again);
        Assert.Equal(BoardFlowCodes.OperationReused, other.Refusal?.Code);
        Assert.Equal(RoomStatus.OutOfService, (await room.GetCardAsync())!.Status);
    }

    [Fact]
    public async Task A_keyed_write_to_an_endpoint_that_ignores_the_key_is_not_executed_again_after_a_lost_answer()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 0);
        using var desk = world.Desk();
        var visit = await world.BookAsync(desk, world.Booking());
        factory.Faults.LoseNextAnswers(world.TenantId, "CreateFromVisitAsync", SiloDied());

        // Billing the chart does not honour Idempotency-Key (and is not marked as recognised by its grains): the visit's
        // invoice was made before the answer was lost, and the request is answered 503, not executed again.
        var (status, body, _) = await SendAsync(desk, $"/api/visits/{visit}/chart/invoice", new { }, "bill-" + Guid.NewGuid().ToString("N"));

        Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");
        Assert.Equal("cluster_unavailable", Code(body));
        Assert.Equal(1, factory.Faults.Passed(world.TenantId, "CreateFromVisitAsync"));
        var invoiceId = MedSpa.GrainInterfaces.Checkout.InvoiceGrainKey.ForVisit(world.TenantId, visit);
        Assert.Equal(1, (await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").GetArrayLength());
    }

    private async Task<int> InvoiceRowsAsync(Guid tenantId)
    {
        await using var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString);
        return await Dapper.SqlMapper.ExecuteScalarAsync<int>(conn, "SELECT count(*)::int FROM invoices WHERE tenant_id = @tenantId", new { tenantId });
    }

    [Fact]
    public async Task A_keyless_invoice_line_whose_answer_was_lost_is_answered_once_and_added_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        factory.Faults.LoseNextAnswers(tenant.TenantId, "AddLineAsync", SiloDied());

        // Executed again by the api with the same operation id, hence the same line id: the invoice answers it as done.
        var (status, body) = await SendKeylessAsync(desk, $"/api/invoices/{invoiceId}/lines", CheckoutRequests.Line(40_00));

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal(1, JsonDocument.Parse(body).RootElement.GetProperty("lines").GetArrayLength());
        Assert.Equal(2, factory.Faults.Passed(tenant.TenantId, "AddLineAsync"));
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(1, invoice.GetProperty("lines").GetArrayLength());
        Assert.Equal(40_00, invoice.Total("subtotal"));

        // Another keyless request is another operation: a second line.
        Assert.Equal(2, (await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(10_00))).GetProperty("lines").GetArrayLength());
    }

    [Fact]
    public async Task A_keyed_invoice_line_whose_answer_was_lost_is_executed_again_and_added_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var key = "line-" + Guid.NewGuid().ToString("N");
        factory.Faults.LoseNextAnswers(tenant.TenantId, "AddLineAsync", SiloDied());

        var (status, body, _) = await SendAsync(desk, $"/api/invoices/{invoiceId}/lines", CheckoutRequests.Line(40_00), key);

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal(2, factory.Faults.Passed(tenant.TenantId, "AddLineAsync"));
        // The desk's own resend with its key gets the stored answer; still one line.
        var resent = await SendAsync(desk, $"/api/invoices/{invoiceId}/lines", CheckoutRequests.Line(40_00), key);
        Assert.Equal(HttpStatusCode.OK, resent.Status);
        Assert.True(resent.Replayed);
        Assert.Equal(1, (await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").GetArrayLength());
    }

    [Fact]
    public async Task A_keyless_invoice_creation_whose_answer_was_lost_makes_one_invoice()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        factory.Faults.LoseNextAnswers(tenant.TenantId, "CreateAsync", SiloDied());

        // The invoice id is derived from the request's operation id: the execution again finds the invoice the first made.
        var (status, body) = await SendKeylessAsync(desk, "/api/invoices", new { clinicId = tenant.ClinicId });

        Assert.True(status == HttpStatusCode.Created, $"expected 201, got {(int)status}: {body}");
        var invoiceId = JsonDocument.Parse(body).RootElement.GetProperty("id").GetGuid();
        Assert.Equal(2, factory.Faults.Passed(tenant.TenantId, "CreateAsync"));
        Assert.Equal("draft", (await desk.GetInvoiceAsync(invoiceId)).GetProperty("status").GetString());
        Assert.Equal(1, await InvoiceRowsAsync(tenant.TenantId));

        // Another keyless request is another invoice.
        Assert.NotEqual(invoiceId, await desk.CreateInvoiceAsync(tenant.ClinicId));
        Assert.Equal(2, await InvoiceRowsAsync(tenant.TenantId));
    }

    [Fact]
    public async Task A_keyless_invoice_line_removal_whose_answer_was_lost_is_answered_200_and_the_line_is_gone()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(10_00));
        var withLines = await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(25_00));
        var lineId = withLines.GetProperty("lines")[1].GetProperty("line").GetProperty("id").GetGuid();
        factory.Faults.LoseNextAnswers(tenant.TenantId, "RemoveLineAsync", SiloDied());

        // Executed again: answered with the invoice (the line already gone), not 404 "Invoice line was not found".
        var (status, body) = await desk.TrySendAsync(HttpMethod.Delete, $"/api/invoices/{invoiceId}/lines/{lineId}", null);

        Assert.True(status == HttpStatusCode.OK, $"expected 200, got {(int)status}: {body}");
        Assert.Equal(2, factory.Faults.Passed(tenant.TenantId, "RemoveLineAsync"));
        var lines = (await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines");
        Assert.Equal(1, lines.GetArrayLength());
        Assert.NotEqual(lineId, lines[0].GetProperty("line").GetProperty("id").GetGuid());

        // A new request to remove it again is a new operation, judged against the invoice as it is.
        var again = await desk.TrySendAsync(HttpMethod.Delete, $"/api/invoices/{invoiceId}/lines/{lineId}", null);
        Assert.Equal(HttpStatusCode.NotFound, again.Status);
    }

    [Fact]
    public async Task An_invoice_answers_an_operation_it_applied_once_and_refuses_its_id_on_a_different_command()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var invoice = grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenant.TenantId, invoiceId));
        var operation = "user/" + Guid.NewGuid().ToString("N");
        var line = new InvoiceLine(Guid.NewGuid(), InvoiceLineKind.Service, "Consultation", 1m, new Money(30_00, "USD"));

        var first = await invoice.AddLineAsync(line, null, operation);
        var again = await invoice.AddLineAsync(line, null, operation);
        var other = await invoice.RemoveLineAsync(line.Id, operation);
        var opened = await invoice.OpenAsync(operation + "-open");
        var openedAgain = await invoice.OpenAsync(operation + "-open");

        Assert.Null(first.Refusal);
        Assert.Equal(first.Invoice!.Version, again.Invoice!.Version); // answered, not applied again
        Assert.Single(again.Invoice.Lines);
        Assert.Equal(CheckoutRefusals.OperationReused, other.Refusal?.Code);
        Assert.Equal(InvoiceStatus.Open, opened.Invoice!.Status);
        Assert.Null(openedAgain.Refusal); // not "already opened"
        Assert.Equal(opened.Invoice.Version, openedAgain.Invoice!.Version);
        Assert.Single((await invoice.GetAsync()).Invoice!.Lines);
        // Without an id, the rules answer as before.
        Assert.Equal(CheckoutRefusals.Conflict, (await invoice.OpenAsync()).Refusal?.Code);
    }
}
