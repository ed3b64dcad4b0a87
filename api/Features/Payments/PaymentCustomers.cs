using Dapper;
using MedSpa.Grains.Payments;
using Npgsql;

namespace MedSpa.Api.Features.Payments;

/// <summary>The gateway-side customer of each patient (payment_customers), created on first use.</summary>
public static class PaymentCustomers
{
    public static Task<string?> FindAsync(NpgsqlConnection conn, string gateway, Guid tenantId, Guid patientId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @tenantId AND patient_id = @patientId AND gateway = @gateway",
            new { tenantId, patientId, gateway }, cancellationToken: ct));

    /// <summary>
    /// The patient's customer on <paramref name="gateway"/>, created there and stored here the first time.
    /// </summary>
    /// <remarks>
    /// Two concurrent first calls must end with one customer. They queue on a per-patient advisory lock held across
    /// the gateway call (a one-off per patient, so holding a connection for it is cheap enough); the second finds
    /// the first one's row. The gateway idempotency key is derived from tenant and patient, so even a crash between
    /// the gateway's answer and our INSERT makes the retry get the same customer back (Stripe keeps keys 24 h), and
    /// ON CONFLICT DO NOTHING covers a writer that does not take the lock.
    /// </remarks>
    public static async Task<string> EnsureAsync(NpgsqlConnection conn, IPaymentGateway gateway, Guid tenantId, Guid patientId, CancellationToken ct)
    {
        if (await FindAsync(conn, gateway.Name, tenantId, patientId, ct) is { } existing)
        {
            return existing;
        }

        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended('payment-customer:' || @tenantId::text || ':' || @patientId::text, 0))",
            new { tenantId, patientId }, tx, cancellationToken: ct));
        var patient = await conn.QuerySingleAsync<PatientContact>(new CommandDefinition(
            """
            SELECT p.first_name, p.last_name, p.email, p.phone, c.customer_id AS existing_customer_id
            FROM patients p
            LEFT JOIN payment_customers c ON c.tenant_id = p.tenant_id AND c.patient_id = p.id AND c.gateway = @gateway
            WHERE p.tenant_id = @tenantId AND p.id = @patientId
            """,
            new { tenantId, patientId, gateway = gateway.Name }, tx, cancellationToken: ct));
        if (patient.ExistingCustomerId is { } raced)
        {
            return raced;
        }

        var customerId = await gateway.CreateCustomerAsync(
            new CustomerRequest(tenantId, patientId, $"{patient.FirstName} {patient.LastName}", patient.Email, patient.Phone),
            $"customer:{tenantId:N}:{patientId:N}", ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO payment_customers (tenant_id, patient_id, gateway, customer_id)
            VALUES (@tenantId, @patientId, @gateway, @customerId)
            ON CONFLICT (tenant_id, patient_id, gateway) DO NOTHING
            """,
            new { tenantId, patientId, gateway = gateway.Name, customerId }, tx, cancellationToken: ct));
        var stored = await conn.QuerySingleAsync<string>(new CommandDefinition(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @tenantId AND patient_id = @patientId AND gateway = @gateway",
            new { tenantId, patientId, gateway = gateway.Name }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return stored;
    }

    private sealed class PatientContact
    {
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public string? Email { get; init; }
        public string? Phone { get; init; }
        public string? ExistingCustomerId { get; init; }
    }
}
