using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Payments;

/// <summary>
/// The sandbox gateway's records in PostgreSQL, so every api host and silo sees one sandbox. A unit of work is one
/// transaction on a tenant-scoped connection, serialised per tenant by a transaction advisory lock: two hosts answering
/// the same idempotency key at once then answer it once (the second waits and finds the first's answer). The sandbox
/// carries no production load, so one lock per tenant costs nothing that matters.
/// </summary>
public sealed class PostgresSandboxGatewayStore(NpgsqlDataSource db) : ISandboxGatewayStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<T> RunAsync<T>(Guid tenantId, Func<ISandboxSession, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (tenantId == Guid.Empty)
        {
            // Every caller sends its tenant (a customer, a sandbox id, or the tenant_id metadata); without one there is
            // no tenant to keep the records under.
            throw new PaymentGatewayException("The sandbox gateway needs the tenant: a customer, or the tenant_id metadata.", transient: false);
        }

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        await conn.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended('sandbox-gateway:' || @tenantId::text, 0))",
            new { tenantId }, tx, cancellationToken: cancellationToken));
        var result = await work(new Session(conn, tx, tenantId, cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return result;
    }

    private sealed class Session(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, CancellationToken ct) : ISandboxSession
    {
        private CommandDefinition Command(string sql, object args) => new(sql, args, tx, cancellationToken: ct);

        public async Task<SandboxCustomerRecord?> FindCustomerAsync(string customerId)
        {
            var row = await conn.QuerySingleOrDefaultAsync<CustomerRow>(Command(
                """
                SELECT id, patient_id AS patientid, default_payment_method_id AS defaultpaymentmethodid, next_attach_sequence AS nextattachsequence
                FROM sandbox_customers WHERE tenant_id = @tenantId AND id = @customerId
                """, new { tenantId, customerId }));
            return row is null ? null : new SandboxCustomerRecord(row.Id, tenantId, row.PatientId, row.DefaultPaymentMethodId, row.NextAttachSequence);
        }

        public async Task<SandboxMethodRecord?> FindMethodAsync(string paymentMethodId)
        {
            var row = await conn.QuerySingleOrDefaultAsync<MethodRow>(Command(
                """
                SELECT id, profile::text AS profile, customer_id AS customerid, attached_at AS attachedat, detached
                FROM sandbox_payment_methods WHERE tenant_id = @tenantId AND id = @paymentMethodId
                """, new { tenantId, paymentMethodId }));
            return row?.ToRecord();
        }

        public async Task<IReadOnlyList<SandboxMethodRecord>> MethodsOfAsync(string customerId)
        {
            var rows = await conn.QueryAsync<MethodRow>(Command(
                """
                SELECT id, profile::text AS profile, customer_id AS customerid, attached_at AS attachedat, detached
                FROM sandbox_payment_methods WHERE tenant_id = @tenantId AND customer_id = @customerId
                """, new { tenantId, customerId }));
            return rows.Select(r => r.ToRecord()).ToList();
        }

        public async Task<SandboxPaymentRecord?> FindPaymentAsync(string paymentId)
        {
            var row = await conn.QuerySingleOrDefaultAsync<PaymentRow>(Command(
                """
                SELECT id, payment_method_id AS paymentmethodid, currency, amount, captured, refunded, status, card::text AS card,
                       decline_code AS declinecode, message
                FROM sandbox_payments WHERE tenant_id = @tenantId AND id = @paymentId
                """, new { tenantId, paymentId }));
            return row is null
                ? null
                : new SandboxPaymentRecord(row.Id, new Money(row.Amount, row.Currency), row.PaymentMethodId,
                    JsonSerializer.Deserialize<CardSummary>(row.Card, Json)!, (PaymentStatus)row.Status,
                    new Money(row.Captured, row.Currency), new Money(row.Refunded, row.Currency), row.DeclineCode, row.Message);
        }

        public async Task<SandboxAnswerRecord?> FindAnswerAsync(string key, DateTimeOffset notBefore)
        {
            var row = await conn.QuerySingleOrDefaultAsync<(string Fingerprint, string Answer, DateTime AnsweredAt)?>(Command(
                """
                SELECT fingerprint, answer::text, answered_at FROM sandbox_idempotency_keys
                WHERE tenant_id = @tenantId AND key = @key AND answered_at >= @notBefore
                """, new { tenantId, key, notBefore = notBefore.UtcDateTime }));
            return row is { } r ? new SandboxAnswerRecord(key, r.Fingerprint, r.Answer, new DateTimeOffset(r.AnsweredAt, TimeSpan.Zero)) : null;
        }

        public Task SaveCustomerAsync(SandboxCustomerRecord customer) => conn.ExecuteAsync(Command(
            """
            INSERT INTO sandbox_customers (tenant_id, id, patient_id, default_payment_method_id, next_attach_sequence)
            VALUES (@tenantId, @Id, @PatientId, @DefaultPaymentMethodId, @NextAttachSequence)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                default_payment_method_id = excluded.default_payment_method_id, next_attach_sequence = excluded.next_attach_sequence
            """, new { tenantId, customer.Id, customer.PatientId, customer.DefaultPaymentMethodId, customer.NextAttachSequence }));

        public Task SaveMethodAsync(SandboxMethodRecord method) => conn.ExecuteAsync(Command(
            """
            INSERT INTO sandbox_payment_methods (tenant_id, id, profile, customer_id, attached_at, detached)
            VALUES (@tenantId, @Id, @Profile::jsonb, @CustomerId, @AttachedAt, @Detached)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                customer_id = excluded.customer_id, attached_at = excluded.attached_at, detached = excluded.detached
            """, new { tenantId, method.Id, Profile = JsonSerializer.Serialize(method.Profile, Json), method.CustomerId, method.AttachedAt, method.Detached }));

        public Task SavePaymentAsync(SandboxPaymentRecord payment) => conn.ExecuteAsync(Command(
            """
            INSERT INTO sandbox_payments (tenant_id, id, payment_method_id, currency, amount, captured, refunded, status, card, decline_code, message)
            VALUES (@tenantId, @Id, @PaymentMethodId, @Currency, @Amount, @Captured, @Refunded, @Status, @Card::jsonb, @DeclineCode, @Message)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                captured = excluded.captured, refunded = excluded.refunded, status = excluded.status,
                decline_code = excluded.decline_code, message = excluded.message
            """, new
            {
                tenantId, payment.Id, payment.PaymentMethodId, payment.Amount.Currency, payment.Amount.Amount,
                Captured = payment.Captured.Amount, Refunded = payment.Refunded.Amount, Status = (int)payment.Status,
                Card = JsonSerializer.Serialize(payment.Card, Json), payment.DeclineCode, payment.Message,
            }));

        public async Task SaveAnswerAsync(SandboxAnswerRecord answer, DateTimeOffset forgetBefore)
        {
            await conn.ExecuteAsync(Command(
                "DELETE FROM sandbox_idempotency_keys WHERE tenant_id = @tenantId AND answered_at < @forgetBefore",
                new { tenantId, forgetBefore = forgetBefore.UtcDateTime }));
            await conn.ExecuteAsync(Command(
                """
                INSERT INTO sandbox_idempotency_keys (tenant_id, key, fingerprint, answer, answered_at)
                VALUES (@tenantId, @Key, @Fingerprint, @Answer::jsonb, @At)
                ON CONFLICT (tenant_id, key) DO UPDATE SET
                    fingerprint = excluded.fingerprint, answer = excluded.answer, answered_at = excluded.answered_at
                """, new { tenantId, answer.Key, answer.Fingerprint, Answer = answer.AnswerJson, At = answer.At.UtcDateTime }));
        }
    }

    // Columns are aliased to the constructor's parameter names: Dapper matches a record's constructor by name.
    private sealed record CustomerRow(string Id, Guid PatientId, string? DefaultPaymentMethodId, long NextAttachSequence);

    private sealed record MethodRow(string Id, string Profile, string? CustomerId, long AttachedAt, bool Detached)
    {
        public SandboxMethodRecord ToRecord() =>
            new(Id, JsonSerializer.Deserialize<SandboxCardProfile>(Profile, Json)!, CustomerId, AttachedAt, Detached);
    }

    private sealed record PaymentRow(string Id, string PaymentMethodId, string Currency, long Amount, long Captured, long Refunded, int Status,
        string Card, string? DeclineCode, string? Message);
}
