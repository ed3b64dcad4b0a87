using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.Payments.StripeMock;

/// <summary>
/// A loopback HTTP server that answers like Stripe's REST API (v1) for what the payment gateway uses: customers,
/// setup intents, payment methods (create from token, attach, detach, list, retrieve), payment intents (create with
/// confirm, retrieve, capture, cancel) and refunds. Form-encoded requests, JSON objects and error objects shaped as in
/// Stripe's API reference, declines as 402 <c>card_error</c>s carrying the payment intent and payment method.
/// </summary>
/// <remarks>
/// <para>Use: <c>await using var stripe = await StripeMockServer.StartAsync();</c> then set
/// <c>Payments:Stripe:ApiBase = stripe.BaseUrl</c> and <c>Payments:Stripe:SecretKey = stripe.SecretKey</c>.
/// <see cref="Requests"/> holds every request as received (fields, headers incl. Idempotency-Key and Authorization);
/// <see cref="FailNext"/> makes the next requests fail (500/503/429, dropped connection, a stall until the client
/// times out, or dropped after processing);
/// <see cref="RegisterPaymentMethod"/> adds a test payment method with a card of your choosing.</para>
/// <para>Like Stripe: a POST with an Idempotency-Key seen before answers the stored status and body again (header
/// <c>Idempotent-Replayed: true</c>) without processing; the same key with other parameters is a 400
/// <c>idempotency_error</c>. Answers are stored for 2xx and 402, not for requests refused as invalid. Test payment
/// method ids (<c>pm_card_visa</c>, …) make a new <c>pm_…</c> each time they are attached or charged. The Bearer
/// key must equal <see cref="SecretKey"/> (401 otherwise). Not modelled: pagination cursors other than
/// starting_after, webhooks, disputes, API versions.</para>
/// <para>Written by hand: no served package offers a Stripe-compatible fake (stripe-mock is a Go binary).</para>
/// </remarks>
public sealed class StripeMockServer : IAsyncDisposable, IDisposable
{
    public const string DefaultSecretKey = "sk_test_medspa_mock";

    private readonly Lock _gate = new();
    private readonly WebApplication _app;
    private readonly List<StripeMockRequest> _requests = [];
    private readonly Queue<StripeMockFailure> _failures = new();
    private readonly Dictionary<string, StripeMockCard> _testMethods = new(StripeMockCard.TestCards, StringComparer.Ordinal);
    private readonly Dictionary<string, (string Fingerprint, int Status, string Body)> _idempotent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MockCustomer> _customers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MockPaymentMethod> _paymentMethods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MockPaymentIntent> _paymentIntents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JsonObject> _others = new(StringComparer.Ordinal);
    private long _sequence;
    private int _requestCount;

    private StripeMockServer(WebApplication app, string baseUrl, string secretKey)
    {
        _app = app;
        BaseUrl = baseUrl;
        SecretKey = secretKey;
    }

    /// <summary><c>http://127.0.0.1:PORT</c>: the value for <c>Payments:Stripe:ApiBase</c>.</summary>
    public string BaseUrl { get; }

    /// <summary>The only API key the mock accepts.</summary>
    public string SecretKey { get; }

    /// <summary>Every request received so far, in order (a snapshot).</summary>
    public IReadOnlyList<StripeMockRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return _requests.ToList();
            }
        }
    }

    public static StripeMockServer Start(string secretKey = DefaultSecretKey) => StartAsync(secretKey).GetAwaiter().GetResult();

    public static async Task<StripeMockServer> StartAsync(string secretKey = DefaultSecretKey)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePorts.Next();
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
            var app = builder.Build();
            var server = new StripeMockServer(app, $"http://127.0.0.1:{port}", secretKey);
            app.Run(server.HandleAsync);
            try
            {
                await app.StartAsync();
                return server;
            }
            catch (IOException e) when (attempt < 5 && e.InnerException is SocketException or null)
            {
                // Another process took the port between FreePorts and Kestrel: try another.
                await app.DisposeAsync();
            }
        }
    }

    private readonly List<StripeMockHold> _holds = [];

    /// <summary>The next POST whose path ends with <paramref name="pathSuffix"/> is processed at once (Stripe has done
    /// it, and sends its webhooks) but its answer is held until <see cref="StripeMockHold.Release"/>: the client is
    /// still waiting for the answer while the test delivers what Stripe would have sent meanwhile.</summary>
    public StripeMockHold HoldNextAnswer(string pathSuffix)
    {
        var hold = new StripeMockHold(pathSuffix);
        lock (_gate)
        {
            _holds.Add(hold);
        }

        return hold;
    }

    /// <summary>The next <paramref name="count"/> requests fail this way (queued after earlier FailNext calls).</summary>
    public void FailNext(int count, StripeMockFailure failure = StripeMockFailure.ServerError)
    {
        lock (_gate)
        {
            for (var i = 0; i < count; i++)
            {
                _failures.Enqueue(failure);
            }
        }
    }

    /// <summary>Adds a test payment method id (<c>pm_…</c> or <c>tok_…</c>) that behaves as <paramref name="card"/>.</summary>
    public void RegisterPaymentMethod(string id, StripeMockCard card)
    {
        lock (_gate)
        {
            _testMethods[id] = card;
        }
    }

    /// <summary>Requests whose path starts with <paramref name="pathPrefix"/>, e.g. <c>/v1/payment_intents</c>.</summary>
    public IReadOnlyList<StripeMockRequest> RequestsTo(string method, string pathPrefix) =>
        Requests.Where(r => r.Method == method && r.Path.StartsWith(pathPrefix, StringComparison.Ordinal)).ToList();

    /// <summary>The current Stripe JSON of an object the mock holds (customer, payment method, payment intent,
    /// setup intent, refund), or null.</summary>
    public JsonObject? Find(string id)
    {
        lock (_gate)
        {
            if (_customers.TryGetValue(id, out var customer))
            {
                return RenderCustomer(customer);
            }

            if (_paymentMethods.TryGetValue(id, out var method))
            {
                return RenderPaymentMethod(method, expandCustomer: false);
            }

            if (_paymentIntents.TryGetValue(id, out var intent))
            {
                return RenderPaymentIntent(intent, ["latest_charge"]);
            }

            return _others.TryGetValue(id, out var other) ? (JsonObject)other.DeepClone() : null;
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var fields = new List<KeyValuePair<string, string>>();
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(context.RequestAborted);
            fields.AddRange(form.SelectMany(f => f.Value.Select(v => new KeyValuePair<string, string>(f.Key, v ?? ""))));
        }

        fields.AddRange(request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))));
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var path = request.Path.Value ?? "/";
        var method = request.Method;

        StripeMockFailure? failure;
        int sequence;
        lock (_gate)
        {
            failure = _failures.Count > 0 ? _failures.Dequeue() : null;
            sequence = ++_requestCount;
        }

        void Record(string outcome, int? status)
        {
            lock (_gate)
            {
                _requests.Add(new StripeMockRequest(sequence, method, path, fields, headers, outcome, status));
            }
        }

        switch (failure)
        {
            case StripeMockFailure.DropConnection:
                Record("dropped", null);
                context.Abort();
                return;
            case StripeMockFailure.Stall:
                Record("stalled", null);
                // Held open until the client's own timeout closes the connection (bounded so a test cannot hang).
                try
                {
                    await Task.Delay(TimeSpan.FromMinutes(1), context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                context.Abort();
                return;
            case StripeMockFailure.ServerError or StripeMockFailure.ServiceUnavailable or StripeMockFailure.RateLimited:
                var status = failure switch
                {
                    StripeMockFailure.ServerError => 500,
                    StripeMockFailure.ServiceUnavailable => 503,
                    _ => 429,
                };
                Record("injected", status);
                var error = status == 429
                    ? Error("invalid_request_error", "rate_limit", "Too many requests hit the API too quickly.")
                    : Error("api_error", null, "An unknown error occurred on Stripe's side.");
                await WriteAsync(context, status, error.ToJsonString(), replayed: false);
                return;
        }

        if (!string.Equals(headers.GetValueOrDefault("Authorization"), "Bearer " + SecretKey, StringComparison.Ordinal))
        {
            Record("unauthorized", 401);
            await WriteAsync(context, 401, Error("invalid_request_error", null, "Invalid API Key provided.").ToJsonString(), replayed: false);
            return;
        }

        var (answerStatus, body, wasReplayed) = Process(method, path, fields, headers.GetValueOrDefault("Idempotency-Key"));
        if (failure == StripeMockFailure.DropConnectionAfterProcessing)
        {
            Record("processed-then-dropped", answerStatus);
            context.Abort();
            return;
        }

        StripeMockHold? held;
        lock (_gate)
        {
            held = _holds.FirstOrDefault(h => method == "POST" && path.EndsWith(h.PathSuffix, StringComparison.Ordinal));
            if (held is not null)
            {
                _holds.Remove(held);
            }
        }

        Record(wasReplayed ? "replayed" : "processed", answerStatus);
        if (held is not null)
        {
            held.Processed.TrySetResult(body);
            // Bounded, so a test that forgets to release cannot hang; the client's own timeout may end it sooner.
            await held.Released.Task.WaitAsync(TimeSpan.FromMinutes(1), context.RequestAborted);
        }

        await WriteAsync(context, answerStatus, body, wasReplayed);
    }

    private static async Task WriteAsync(HttpContext context, int status, string body, bool replayed)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["Request-Id"] = "req_" + Guid.NewGuid().ToString("N")[..14];
        if (replayed)
        {
            context.Response.Headers["Idempotent-Replayed"] = "true";
        }

        await context.Response.WriteAsync(body);
    }

    private (int Status, string Body, bool Replayed) Process(
        string method, string path, List<KeyValuePair<string, string>> fields, string? idempotencyKey)
    {
        lock (_gate)
        {
            var fingerprint = method + " " + path + "?" + string.Join(
                "&", fields.OrderBy(f => f.Key, StringComparer.Ordinal)
                .ThenBy(f => f.Value, StringComparer.Ordinal).Select(f => f.Key + "=" + f.Value));
            var idempotent = method == "POST" && !string.IsNullOrEmpty(idempotencyKey);
            if (idempotent && _idempotent.TryGetValue(idempotencyKey!, out var stored))
            {
                if (stored.Fingerprint != fingerprint)
                {
                    return (400, Error("idempotency_error", null,
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other "
                        + $"than '{idempotencyKey}' if you meant to execute a different request.").ToJsonString(), false);
                }

                return (stored.Status, stored.Body, true);
            }

            int status;
            JsonObject body;
            try
            {
                (status, body) = Route(method, path.Trim('/').Split('/'), new Form(fields));
            }
            catch (MockApiError e)
            {
                (status, body) = (e.Status, e.Body);
            }

            var text = body.ToJsonString();
            if (idempotent && (status is >= 200 and < 300 || status == 402))
            {
                _idempotent[idempotencyKey!] = (fingerprint, status, text);
            }

            return (status, text, false);
        }
    }

    private (int, JsonObject) Route(string method, string[] s, Form form)
    {
        return (method, s) switch
        {
            ("POST", ["v1", "customers"]) => (200, CreateCustomer(form)),
            ("GET", ["v1", "customers", var id]) => (200, RenderCustomer(RequireCustomer(id, inPath: true))),
            ("POST", ["v1", "customers", var id]) => (200, UpdateCustomer(id, form)),
            ("GET", ["v1", "customers", var id, "payment_methods"]) => (200, ListPaymentMethods(id, form)),
            ("POST", ["v1", "setup_intents"]) => (200, CreateSetupIntent(form)),
            ("POST", ["v1", "payment_methods"]) => (200, CreatePaymentMethod(form)),
            ("GET", ["v1", "payment_methods", var id]) =>
                (200, RenderPaymentMethod(RequirePaymentMethod(id, "id", inPath: true), form.Expands("customer"))),
            ("POST", ["v1", "payment_methods", var id, "attach"]) => (200, Attach(id, form)),
            ("POST", ["v1", "payment_methods", var id, "detach"]) => (200, Detach(id)),
            ("POST", ["v1", "payment_intents"]) => CreatePaymentIntent(form),
            ("GET", ["v1", "payment_intents", var id]) => (200, RenderPaymentIntent(RequireIntent(id), form.ExpandList())),
            ("POST", ["v1", "payment_intents", var id, "capture"]) => (200, Capture(id, form)),
            ("POST", ["v1", "payment_intents", var id, "cancel"]) => (200, Cancel(id, form)),
            ("POST", ["v1", "refunds"]) => (200, CreateRefund(form)),
            _ => throw new MockApiError(404, Error("invalid_request_error", null, $"Unrecognized request URL ({method}: /{string.Join('/', s)})."))
        };
    }

    private JsonObject CreateCustomer(Form form)
    {
        var customer = new MockCustomer(NewId("cus"))
        {
            Name = form["name"],
            Email = form["email"],
            Phone = form["phone"],
        };
        foreach (var (key, value) in form.Map("metadata"))
        {
            customer.Metadata[key] = value;
        }

        _customers[customer.Id] = customer;
        return RenderCustomer(customer);
    }

    private JsonObject UpdateCustomer(string id, Form form)
    {
        var customer = RequireCustomer(id, inPath: true);
        if (form["invoice_settings[default_payment_method]"] is { } defaultId)
        {
            if (defaultId.Length == 0)
            {
                customer.DefaultPaymentMethod = null;
            }
            else if (!_paymentMethods.TryGetValue(defaultId, out var method) || method.Customer != id)
            {
                throw new MockApiError(400, Error("invalid_request_error", "resource_missing",
                    $"No such PaymentMethod: '{defaultId}'; the customer does not have a payment method with that ID.",
                    "invoice_settings[default_payment_method]"));
            }
            else
            {
                customer.DefaultPaymentMethod = defaultId;
            }
        }

        foreach (var (key, value) in form.Map("metadata"))
        {
            customer.Metadata[key] = value;
        }

        customer.Name = form["name"] ?? customer.Name;
        customer.Email = form["email"] ?? customer.Email;
        return RenderCustomer(customer);
    }

    private JsonObject ListPaymentMethods(string customerId, Form form)
    {
        RequireCustomer(customerId, inPath: true);
        var limit = int.TryParse(form["limit"], out var l) ? Math.Clamp(l, 1, 100) : 10;
        var methods = _paymentMethods.Values
            .Where(m => m.Customer == customerId && (form["type"] is null || form["type"] == "card"))
            .OrderByDescending(m => m.Sequence)
            .ToList();
        if (form["starting_after"] is { } after)
        {
            var index = methods.FindIndex(m => m.Id == after);
            methods = index < 0 ? [] : methods.Skip(index + 1).ToList();
        }

        var data = new JsonArray(methods.Take(limit).Select(m => (JsonNode)RenderPaymentMethod(m, expandCustomer: false)).ToArray());
        return new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["has_more"] = methods.Count > limit,
            ["url"] = $"/v1/customers/{customerId}/payment_methods",
        };
    }

    private JsonObject CreateSetupIntent(Form form)
    {
        var customer = form["customer"];
        if (customer is not null)
        {
            RequireCustomer(customer, inPath: false);
        }

        var id = NewId("seti");
        var intent = new JsonObject
        {
            ["id"] = id,
            ["object"] = "setup_intent",
            ["client_secret"] = $"{id}_secret_{Guid.NewGuid():N}",
            ["customer"] = customer,
            ["usage"] = form["usage"] ?? "off_session",
            ["status"] = "requires_payment_method",
            ["payment_method"] = null,
            ["payment_method_types"] = new JsonArray("card"),
            ["metadata"] = new JsonObject(),
            ["created"] = Now(),
            ["livemode"] = false,
        };
        _others[id] = intent;
        return (JsonObject)intent.DeepClone();
    }

    private JsonObject CreatePaymentMethod(Form form)
    {
        if (form["type"] != "card")
        {
            throw new MockApiError(400, Error("invalid_request_error", "parameter_invalid_empty", "Missing required param: type.", "type"));
        }

        var token = form["card[token]"];
        if (token is null)
        {
            // Raw card numbers are refused: this server, like ours, never takes a PAN.
            throw new MockApiError(
                400, Error("invalid_request_error", "parameter_missing", "Only card[token] is accepted by the mock.", "card[token]"));
        }

        if (!token.StartsWith("tok_", StringComparison.Ordinal) || !_testMethods.TryGetValue(token, out var card))
        {
            throw new MockApiError(400, Error("invalid_request_error", "resource_missing", $"No such token: '{token}'", "card[token]"));
        }

        var method = NewPaymentMethod(card);
        return RenderPaymentMethod(method, expandCustomer: false);
    }

    private JsonObject Attach(string id, Form form)
    {
        var customerId = form["customer"]
            ?? throw new MockApiError(400, Error("invalid_request_error", "parameter_missing", "Missing required param: customer.", "customer"));
        RequireCustomer(customerId, inPath: false);
        var method = RequirePaymentMethod(id, "id", inPath: true);
        if (method.Detached)
        {
            throw new MockApiError(400, Error("invalid_request_error", null,
                "This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used "
                + "again."));
        }

        if (method.Customer is { } owner && owner != customerId)
        {
            throw new MockApiError(
                400, Error("invalid_request_error", null, "The payment method you provided has already been attached to a customer."));
        }

        method.Customer = customerId;
        return RenderPaymentMethod(method, form.Expands("customer"));
    }

    private JsonObject Detach(string id)
    {
        var method = RequirePaymentMethod(id, "id", inPath: true);
        if (method.Customer is null)
        {
            throw new MockApiError(400, Error("invalid_request_error", null,
                "The payment method you provided is not attached to a customer so detachment is impossible."));
        }

        var customer = _customers[method.Customer];
        if (customer.DefaultPaymentMethod == id)
        {
            customer.DefaultPaymentMethod = null;
        }

        method.Customer = null;
        method.Detached = true;
        return RenderPaymentMethod(method, expandCustomer: false);
    }

    private (int, JsonObject) CreatePaymentIntent(Form form)
    {
        if (!long.TryParse(form["amount"], out var amount) || amount < 1)
        {
            throw new MockApiError(
                400, Error("invalid_request_error", "parameter_invalid_integer", "Invalid integer: amount must be at least 1.", "amount"));
        }

        var currency = form["currency"];
        if (currency is null || currency.Length != 3 || currency.Any(char.IsAsciiLetterUpper))
        {
            throw new MockApiError(
                400, Error("invalid_request_error", "parameter_invalid_string", "Invalid currency: expected a lowercase ISO code.", "currency"));
        }

        var customerId = form["customer"];
        if (customerId is not null)
        {
            RequireCustomer(customerId, inPath: false);
        }

        var methodId = form["payment_method"] ?? throw new MockApiError(400, Error("invalid_request_error", "parameter_missing",
            "You cannot confirm this PaymentIntent because it's missing a payment method.", "payment_method"));
        var method = RequirePaymentMethod(methodId, "payment_method", inPath: false);
        if (method.Customer is { } owner && owner != customerId)
        {
            throw new MockApiError(400, Error("invalid_request_error", null, customerId is null
                ? "The provided PaymentMethod is attached to a Customer; pass that Customer's ID in the customer parameter."
                : "The provided PaymentMethod belongs to another Customer."));
        }

        if (method.Detached)
        {
            throw new MockApiError(
                400, Error("invalid_request_error", null, "This PaymentMethod was detached from a Customer and may not be used again."));
        }

        var intent = new MockPaymentIntent(NewId("pi"), amount, currency, method.Id)
        {
            Customer = customerId,
            CaptureMethod = form["capture_method"] ?? "automatic",
            Description = form["description"],
        };
        foreach (var (key, value) in form.Map("metadata"))
        {
            intent.Metadata[key] = value;
        }

        _paymentIntents[intent.Id] = intent;
        var expand = form.ExpandList();
        if (form["confirm"] != "true")
        {
            intent.Status = "requires_confirmation";
            return (200, RenderPaymentIntent(intent, expand));
        }

        var card = method.Card;
        var offSession = form["off_session"] == "true";
        if (card.ErrorCode is not null || (card.RequiresAuthentication && offSession))
        {
            var code = card.ErrorCode ?? "authentication_required";
            var declineCode = card.ErrorCode is null ? "authentication_required" : card.DeclineCode;
            var message = card.Message ?? "Your card was declined. This transaction requires authentication.";
            intent.Charge = new MockCharge(NewId("ch"), Paid: false, Status: "failed");
            intent.Status = "requires_payment_method";
            intent.LastError = (JsonObject)Error(
                "card_error", code, message, declineCode: declineCode, charge: intent.Charge.Id)["error"]!.DeepClone();
            var error = Error("card_error", code, message, declineCode: declineCode, charge: intent.Charge.Id);
            var inner = (JsonObject)error["error"]!;
            inner["payment_intent"] = RenderPaymentIntent(intent, []);
            inner["payment_method"] = RenderPaymentMethod(method, expandCustomer: false);
            return (402, error);
        }

        if (card.RequiresAuthentication)
        {
            intent.Status = "requires_action";
            intent.NextAction = new JsonObject { ["type"] = "use_stripe_sdk", ["use_stripe_sdk"] = new JsonObject() };
            return (200, RenderPaymentIntent(intent, expand));
        }

        intent.Charge = new MockCharge(NewId("ch"), Paid: true, Status: "succeeded");
        if (intent.CaptureMethod == "manual")
        {
            intent.Status = "requires_capture";
            intent.AmountCapturable = amount;
        }
        else
        {
            intent.Status = "succeeded";
            intent.AmountReceived = amount;
        }

        return (200, RenderPaymentIntent(intent, expand));
    }

    private JsonObject Capture(string id, Form form)
    {
        var intent = RequireIntent(id);
        if (intent.Status != "requires_capture")
        {
            throw UnexpectedState(intent, "captured", "requires_capture");
        }

        var amount = form["amount_to_capture"] is { } text && long.TryParse(text, out var parsed) ? parsed : intent.AmountCapturable;
        if (amount < 1 || amount > intent.AmountCapturable)
        {
            throw new MockApiError(400, Error("invalid_request_error", "amount_too_large",
                $"The amount to capture ({amount}) must be positive and at most the capturable amount ({intent.AmountCapturable}).",
                "amount_to_capture"));
        }

        intent.AmountReceived = amount;
        intent.AmountCapturable = 0;
        intent.Status = "succeeded";
        return RenderPaymentIntent(intent, form.ExpandList());
    }

    private JsonObject Cancel(string id, Form form)
    {
        var intent = RequireIntent(id);
        if (intent.Status is "succeeded" or "canceled")
        {
            throw UnexpectedState(
                intent, "canceled", "requires_payment_method, requires_capture, requires_confirmation, requires_action, processing");
        }

        intent.Status = "canceled";
        intent.AmountCapturable = 0;
        intent.CancellationReason = form["cancellation_reason"];
        return RenderPaymentIntent(intent, form.ExpandList());
    }

    private JsonObject CreateRefund(Form form)
    {
        var intentId = form["payment_intent"]
            ?? throw new MockApiError(
                400, Error("invalid_request_error", "parameter_missing", "Missing required param: payment_intent.", "payment_intent"));
        if (!_paymentIntents.TryGetValue(intentId, out var intent))
        {
            throw new MockApiError(
                400, Error("invalid_request_error", "resource_missing", $"No such payment_intent: '{intentId}'", "payment_intent"));
        }

        if (intent.Status != "succeeded")
        {
            throw new MockApiError(
                400, Error(
                    "invalid_request_error", "charge_not_refundable",
                    $"This PaymentIntent ({intentId}) does not have a successful charge to refund."));
        }

        var unrefunded = intent.AmountReceived - intent.AmountRefunded;
        var amount = form["amount"] is { } text && long.TryParse(text, out var parsed) ? parsed : unrefunded;
        if (unrefunded == 0)
        {
            throw new MockApiError(
                400, Error("invalid_request_error", "charge_already_refunded", $"Charge {intent.Charge!.Id} has already been refunded."));
        }

        if (amount < 1 || amount > unrefunded)
        {
            throw new MockApiError(400, Error("invalid_request_error", "amount_too_large",
                $"Refund amount ({amount}) is greater than unrefunded amount on charge ({unrefunded}).", "amount"));
        }

        var reason = form["reason"];
        if (reason is not null && reason is not ("duplicate" or "fraudulent" or "requested_by_customer"))
        {
            throw new MockApiError(
                400, Error(
                    "invalid_request_error", "parameter_invalid_string",
                    "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer", "reason"));
        }

        intent.AmountRefunded += amount;
        var metadata = new JsonObject();
        foreach (var (key, value) in form.Map("metadata"))
        {
            metadata[key] = value;
        }

        var refund = new JsonObject
        {
            ["id"] = NewId("re"),
            ["object"] = "refund",
            ["amount"] = amount,
            ["currency"] = intent.Currency,
            ["charge"] = intent.Charge!.Id,
            ["payment_intent"] = intent.Id,
            ["reason"] = reason,
            ["status"] = "succeeded",
            ["metadata"] = metadata,
            ["created"] = Now(),
        };
        _others[(string)refund["id"]!] = refund;
        return (JsonObject)refund.DeepClone();
    }

    private MockCustomer RequireCustomer(string id, bool inPath) =>
        _customers.TryGetValue(id, out var customer)
            ? customer
            : throw new MockApiError(
                inPath ? 404 : 400, Error("invalid_request_error", "resource_missing", $"No such customer: '{id}'", inPath ? "id" : "customer"));

    private MockPaymentIntent RequireIntent(string id) =>
        _paymentIntents.TryGetValue(id, out var intent)
            ? intent
            : throw new MockApiError(404, Error("invalid_request_error", "resource_missing", $"No such payment_intent: '{id}'", "intent"));

    /// <summary>A stored method, or a new one made from a test id (<c>pm_card_visa</c>), as Stripe does.</summary>
    private MockPaymentMethod RequirePaymentMethod(string id, string param, bool inPath)
    {
        if (_paymentMethods.TryGetValue(id, out var method))
        {
            return method;
        }

        if (id.StartsWith("pm_", StringComparison.Ordinal) && _testMethods.TryGetValue(id, out var card))
        {
            return NewPaymentMethod(card);
        }

        throw new MockApiError(inPath ? 404 : 400, Error("invalid_request_error", "resource_missing", $"No such PaymentMethod: '{id}'", param));
    }

    private MockPaymentMethod NewPaymentMethod(StripeMockCard card)
    {
        var method = new MockPaymentMethod(NewId("pm"), card, ++_sequence);
        _paymentMethods[method.Id] = method;
        return method;
    }

    private static MockApiError UnexpectedState(MockPaymentIntent intent, string verb, string expected) =>
        new(400, Error("invalid_request_error", "payment_intent_unexpected_state",
            $"This PaymentIntent could not be {verb} because it has a status of {intent.Status}. Only a PaymentIntent with one of the following "
            + $"statuses may be {verb}: {expected}.",
            paymentIntentId: intent.Id));

    private static JsonObject RenderCustomer(MockCustomer customer) => new()
    {
        ["id"] = customer.Id,
        ["object"] = "customer",
        ["name"] = customer.Name,
        ["email"] = customer.Email,
        ["phone"] = customer.Phone,
        ["metadata"] = ToJson(customer.Metadata),
        ["invoice_settings"] = new JsonObject
        {
            ["default_payment_method"] = customer.DefaultPaymentMethod,
            ["custom_fields"] = null,
            ["footer"] = null,
        },
        ["created"] = customer.Created,
        ["livemode"] = false,
    };

    private JsonObject RenderPaymentMethod(MockPaymentMethod method, bool expandCustomer) => new()
    {
        ["id"] = method.Id,
        ["object"] = "payment_method",
        ["type"] = "card",
        ["customer"] = method.Customer is null ? null
            : expandCustomer ? RenderCustomer(_customers[method.Customer]) : method.Customer,
        ["card"] = RenderCard(method.Card),
        ["billing_details"] = new JsonObject { ["address"] = new JsonObject { ["postal_code"] = "94107" } },
        ["metadata"] = new JsonObject(),
        ["created"] = method.Created,
        ["livemode"] = false,
    };

    private static JsonObject RenderCard(StripeMockCard card) => new()
    {
        ["brand"] = card.Brand,
        ["funding"] = card.Funding,
        ["last4"] = card.Last4,
        ["exp_month"] = card.ExpMonth,
        ["exp_year"] = card.EffectiveExpYear,
        ["country"] = "US",
        ["checks"] = new JsonObject
        {
            ["cvc_check"] = card.CvcCheck,
            ["address_postal_code_check"] = card.PostalCodeCheck,
            ["address_line1_check"] = null,
        },
    };

    private JsonObject RenderPaymentIntent(MockPaymentIntent intent, IReadOnlyCollection<string> expand)
    {
        var method = _paymentMethods[intent.PaymentMethod];
        JsonNode? latestCharge = null;
        if (intent.Charge is { } charge)
        {
            latestCharge = expand.Contains("latest_charge")
                ? new JsonObject
                {
                    ["id"] = charge.Id,
                    ["object"] = "charge",
                    ["amount"] = intent.Amount,
                    ["amount_captured"] = intent.AmountReceived,
                    ["amount_refunded"] = intent.AmountRefunded,
                    ["captured"] = intent.AmountReceived > 0,
                    ["currency"] = intent.Currency,
                    ["paid"] = charge.Paid,
                    ["refunded"] = intent.AmountReceived > 0 && intent.AmountRefunded == intent.AmountReceived,
                    ["status"] = charge.Status,
                    ["customer"] = intent.Customer,
                    ["payment_intent"] = intent.Id,
                    ["payment_method"] = intent.PaymentMethod,
                    ["payment_method_details"] = new JsonObject { ["type"] = "card", ["card"] = RenderCard(method.Card) },
                    ["metadata"] = ToJson(intent.Metadata),
                    ["created"] = intent.Created,
                    ["livemode"] = false,
                }
                : charge.Id;
        }

        return new JsonObject
        {
            ["id"] = intent.Id,
            ["object"] = "payment_intent",
            ["amount"] = intent.Amount,
            ["amount_capturable"] = intent.AmountCapturable,
            ["amount_received"] = intent.AmountReceived,
            ["currency"] = intent.Currency,
            ["status"] = intent.Status,
            ["capture_method"] = intent.CaptureMethod,
            ["confirmation_method"] = "automatic",
            ["client_secret"] = $"{intent.Id}_secret_mock",
            ["customer"] = intent.Customer,
            ["description"] = intent.Description,
            ["metadata"] = ToJson(intent.Metadata),
            ["payment_method"] = expand.Contains("payment_method") ? RenderPaymentMethod(method, expandCustomer: false) : intent.PaymentMethod,
            ["payment_method_types"] = new JsonArray("card"),
            ["latest_charge"] = latestCharge,
            ["last_payment_error"] = intent.LastError?.DeepClone(),
            ["next_action"] = intent.NextAction?.DeepClone(),
            ["cancellation_reason"] = intent.CancellationReason,
            ["created"] = intent.Created,
            ["livemode"] = false,
        };
    }

    /// <summary>Stripe's error object; for a 4xx/5xx body use the result as is (it is <c>{"error": {...}}</c>).</summary>
    private static JsonObject Error(string type, string? code, string message, string? param = null, string? declineCode = null,
        string? charge = null, string? paymentIntentId = null)
    {
        var error = new JsonObject { ["type"] = type, ["message"] = message };
        if (code is not null)
        {
            error["code"] = code;
            error["doc_url"] = $"https://stripe.com/docs/error-codes/{code.Replace('_', '-')}";
        }

        if (param is not null)
        {
            error["param"] = param;
        }

        if (declineCode is not null)
        {
            error["decline_code"] = declineCode;
        }

        if (charge is not null)
        {
            error["charge"] = charge;
        }

        if (paymentIntentId is not null)
        {
            error["payment_intent"] = new JsonObject { ["id"] = paymentIntentId, ["object"] = "payment_intent" };
        }

        return new JsonObject { ["error"] = error };
    }

    private static JsonObject ToJson(Dictionary<string, string> map)
    {
        var json = new JsonObject();
        foreach (var (key, value) in map)
        {
            json[key] = value;
        }

        return json;
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static string NewId(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 25)];

    /// <summary>Form fields with Stripe's bracket notation read back.</summary>
    private sealed class Form(List<KeyValuePair<string, string>> fields)
    {
        public string? this[string name] => fields.LastOrDefault(f => f.Key == name).Value;

        /// <summary><c>metadata[a]=1&amp;metadata[b]=2</c> → {a: 1, b: 2}.</summary>
        public IEnumerable<(string Key, string Value)> Map(string name) => fields
            .Where(f => f.Key.StartsWith(name + "[", StringComparison.Ordinal) && f.Key.EndsWith(']'))
            .Select(f => (f.Key[(name.Length + 1)..^1], f.Value));

        public HashSet<string> ExpandList() =>
            fields.Where(f => f.Key == "expand[]" || StripeMockForm.IsListKey(f.Key, "expand")).Select(f => f.Value).ToHashSet();

        public bool Expands(string path) => ExpandList().Contains(path);
    }

    private sealed class MockApiError(int status, JsonObject body) : Exception((string?)body["error"]?["message"])
    {
        public int Status { get; } = status;
        public JsonObject Body { get; } = body;
    }

    private sealed class MockCustomer(string id)
    {
        public string Id { get; } = id;
        public string? Name { get; set; }
        public string? Email { get; set; }
        public string? Phone { get; set; }
        public Dictionary<string, string> Metadata { get; } = [];
        public string? DefaultPaymentMethod { get; set; }
        public long Created { get; } = Now();
    }

    private sealed class MockPaymentMethod(string id, StripeMockCard card, long sequence)
    {
        public string Id { get; } = id;
        public StripeMockCard Card { get; } = card;
        public long Sequence { get; } = sequence;
        public string? Customer { get; set; }
        public bool Detached { get; set; }
        public long Created { get; } = Now();
    }

    private sealed record MockCharge(string Id, bool Paid, string Status);

    private sealed class MockPaymentIntent(string id, long amount, string currency, string paymentMethod)
    {
        public string Id { get; } = id;
        public long Amount { get; } = amount;
        public string Currency { get; } = currency;
        public string PaymentMethod { get; } = paymentMethod;
        public string? Customer { get; init; }
        public string CaptureMethod { get; init; } = "automatic";
        public string? Description { get; init; }
        public Dictionary<string, string> Metadata { get; } = [];
        public string Status { get; set; } = "requires_payment_method";
        public long AmountCapturable { get; set; }
        public long AmountReceived { get; set; }
        public long AmountRefunded { get; set; }
        public MockCharge? Charge { get; set; }
        public JsonObject? LastError { get; set; }
        public JsonObject? NextAction { get; set; }
        public string? CancellationReason { get; set; }
        public long Created { get; } = Now();
    }
}

/// <summary>An answer held back (<see cref="StripeMockServer.HoldNextAnswer"/>): <see cref="Processed"/> completes with
/// the answer's body once Stripe has processed the request; the answer goes out on <see cref="Release"/>.</summary>
public sealed class StripeMockHold(string pathSuffix)
{
    public string PathSuffix { get; } = pathSuffix;

    public TaskCompletionSource<string> Processed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => Released.TrySetResult();
}
