using System.Net;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Tests.Auth;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Receipts;
using Npgsql;

namespace MedSpa.Tests.Tenancy;

/// <summary>
/// A tenant with at least one row in every table that carries tenant_id. What a client can do goes through the public
/// API (sign-in, refresh, logout, a booking with an idempotency key, a full checkout, a display link and its key
/// exchange); the rest — rows written by the card processor's webhooks, housekeeping, MFA enrolment — is inserted as
/// the owner. A table added later without a row here makes <see cref="RowLevelSecurityTests"/> name it.
/// </summary>
public sealed record TenantSeed(TestTenant Tenant)
{
    public Guid TenantId => Tenant.TenantId;

    public static async Task<TenantSeed> CreateAsync(MedSpaApiFactory factory)
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 1);
        var tenant = world.Tenant;
        var anonymous = factory.CreateClient();

        // Sign-in (sessions, refresh_tokens), a refresh (the global look-up by hash), a logout (access_revocations).
        var staff = await tenant.CreateUserWithPasswordAsync("front-desk");
        var login = await anonymous.LoginOkAsync(staff.Email, staff.Password!);
        var refreshed = await anonymous.RefreshAsync(login.Str("refreshToken"));
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var refreshedToken = (await refreshed.ReadJsonAsync()).Str("accessToken");
        Assert.Equal(HttpStatusCode.NoContent, (await factory.CreateClient(refreshedToken).PostAsync("/api/auth/logout", null)).StatusCode);
        // And a session that stays signed in: housekeeping's purge deletes the refresh tokens of a logged-out session, so
        // when its tick came between this seed and the checks, refresh_tokens had no row of this tenant left to check.
        await anonymous.LoginOkAsync(staff.Email, staff.Password!);

        // A booking with an idempotency key (appointments, idempotency_records).
        using (var book = new HttpRequestMessage(HttpMethod.Post, "/api/appointments"))
        {
            book.Content = JsonContent.Create(world.Booking(), options: MedSpaApiFactory.Json);
            book.Headers.Add("Idempotency-Key", "rls-" + Guid.NewGuid().ToString("N"));
            var booked = await world.Desk().SendAsync(book);
            Assert.Equal(HttpStatusCode.Created, booked.StatusCode);
        }

        // A checkout (invoices, invoice_number_counters, journal_entries, journal_postings, tax_rates ...).
        await ReceiptRequests.CheckOutVisitAsync(tenant, world.Desk());

        // A display link and its key exchange (the global look-up by key).
        var owner = tenant.ClientFor(tenant.Owner);
        var created = await owner.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/display-links", new { name = "Lobby TV" }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var exchange = await anonymous.PostAsJsonAsync(
            "/api/board/display-token", new { key = (await created.ReadJsonAsync()).Str("secret") }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.OK, exchange.StatusCode);

        // A wallet adjustment (wallet_transactions and its journal entry).
        using (var adjust = new HttpRequestMessage(HttpMethod.Post, $"/api/patients/{world.Patients[0]}/wallet/adjustments"))
        {
            adjust.Content = JsonContent.Create(
                new { amount = new { amount = 500, currency = "USD" }, reason = "seed", clinicId = tenant.ClinicId }, options: MedSpaApiFactory.Json);
            adjust.Headers.Add("Idempotency-Key", "rls-wallet-" + Guid.NewGuid().ToString("N"));
            Assert.Equal(HttpStatusCode.OK, (await owner.SendAsync(adjust)).StatusCode);
        }

        await InsertAsOwnerAsync(factory, tenant, world, staff.UserId);
        return new TenantSeed(tenant);
    }

    private static async Task InsertAsOwnerAsync(MedSpaApiFactory factory, TestTenant tenant, FlowWorld world, Guid userId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var args = new
        {
            tenant.TenantId,
            tenant.ClinicId,
            UserId = userId,
            PatientId = world.Patients[0],
            InvoiceId = Guid.NewGuid(),
            MembershipPlanId = Guid.NewGuid(),
            MembershipId = Guid.NewGuid(),
            Suffix = tenant.TenantId.ToString("N"),
            Hash = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32),
        };
        await conn.ExecuteAsync(
            """
            INSERT INTO products (tenant_id, id, name, kind, unit, units_per_package, price_per_unit_amount, price_currency,
                                  tax_category, income_category)
            VALUES (@TenantId, gen_random_uuid(), 'Serum', 'retail', 'each', 1, 1000, 'USD', 'retail', 'retail');
            INSERT INTO mfa_recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES (@TenantId, @UserId, @Hash, now());
            INSERT INTO sign_in_known_addresses (tenant_id, user_id, address, last_success_at) VALUES (@TenantId, @UserId, '127.0.0.1', now())
                ON CONFLICT DO NOTHING;
            INSERT INTO board_states (tenant_id, clinic_id, last_seq, state) VALUES (@TenantId, @ClinicId, 1, '\x00')
                ON CONFLICT DO NOTHING;
            INSERT INTO board_events (tenant_id, clinic_id, seq, event, at, payload) VALUES (@TenantId, @ClinicId, 1000000, 'seed', now(), '\x00')
                ON CONFLICT DO NOTHING;
            INSERT INTO clinic_receipt_settings (tenant_id, clinic_id) VALUES (@TenantId, @ClinicId) ON CONFLICT DO NOTHING;
            INSERT INTO cash_counts (tenant_id, id, clinic_id, business_date, currency, counted, expected, difference, counted_by)
            VALUES (@TenantId, gen_random_uuid(), @ClinicId, current_date, 'USD', 100, 100, 0, @UserId);
            INSERT INTO payment_customers (tenant_id, patient_id, gateway, customer_id) VALUES (@TenantId, @PatientId, 'stripe', 'cus_' || @Suffix);
            INSERT INTO saved_cards (tenant_id, payment_method_id, patient_id, gateway, brand, funding, last4, exp_month, exp_year)
            VALUES (@TenantId, 'pm_' || @Suffix, @PatientId, 'stripe', 'visa', 'credit', '4242', 12, 2030);
            INSERT INTO card_payments (tenant_id, payment_id, gateway, clinic_id, invoice_id, tender_id, tender_kind, status, currency, amount)
            VALUES (@TenantId, 'pi_' || @Suffix, 'stripe', @ClinicId, @InvoiceId, gen_random_uuid(), 'card', 'succeeded', 'USD', 1000);
            INSERT INTO card_transactions (tenant_id, operation_id, clinic_id, invoice_id, tender_id, tender_kind, kind, status, gateway,
                                           payment_id, currency, amount, business_date, occurred_at)
            VALUES (@TenantId, 'op-' || @Suffix, @ClinicId, @InvoiceId, gen_random_uuid(), 'card', 'charge', 'succeeded', 'stripe',
                    'pi_' || @Suffix, 'USD', 1000, current_date, now());
            INSERT INTO gateway_events (gateway, event_id, event_type, tenant_id)
            VALUES ('stripe', 'evt_' || @Suffix, 'payment_intent.succeeded', @TenantId);
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@TenantId, gen_random_uuid(), @ClinicId, 'card-expiring', 'saved-card', 'pm_' || @Suffix, 'Card expires.', 'seed:' || @Suffix);
            INSERT INTO package_definitions (tenant_id, id, name, type, price_amount, price_currency, terms)
            VALUES (@TenantId, gen_random_uuid(), 'Seed package ' || @Suffix, 'standard', 90000, 'USD', '{}');
            INSERT INTO package_purchases (tenant_id, id, definition_id, definition_version, name, type, owner_patient_id, clinic_id, status,
                                           currency, net_paid, sessions_total, sessions_left, free_sessions_left, threshold_progress,
                                           rewards_available, liability_left, reserved, purchased_at, version, updated_at)
            VALUES (@TenantId, @InvoiceId, gen_random_uuid(), 1, 'Seed package', 'standard', @PatientId, @ClinicId, 'active', 'USD', 90000,
                    3, 3, 0, 0, 0, 90000, 0, now(), 1, now());
            INSERT INTO package_members (tenant_id, purchase_id, patient_id, sessions_used, amount_used, added_at, added_by, version)
            VALUES (@TenantId, @InvoiceId, gen_random_uuid(), 0, 0, now(), @UserId, 1);
            INSERT INTO package_redemptions (tenant_id, purchase_id, operation_id, origin, state, service_id, service_name, quantity,
                                             free_sessions, value, additional_charge, staff_compensation, currency, patient_id, clinic_id,
                                             redeemed_at, redeemed_by, recorded_at, updated_at, version)
            VALUES (@TenantId, @InvoiceId, 'seed-' || @Suffix, 'front-desk', 'committed', gen_random_uuid(), 'Seed service', 1, 0, 30000, 0, 0,
                    'USD', @PatientId, @ClinicId, now(), @UserId, now(), now(), 2);
            INSERT INTO membership_plans (tenant_id, id, name, billing_interval, price_amount, price_currency)
            VALUES (@TenantId, @MembershipPlanId, 'Seed plan ' || @Suffix, 'monthly', 9900, 'USD');
            INSERT INTO memberships (tenant_id, id, patient_id, plan_id, clinic_id, plan_name, status, billing_interval, price_amount,
                                     currency, services_discount_percent, products_discount_percent, start_date, version, created_at, updated_at)
            VALUES (@TenantId, @MembershipId, @PatientId, @MembershipPlanId, @ClinicId, 'Seed plan', 'active', 'monthly', 9900,
                    'USD', 0, 10, current_date, 1, now(), now());
            INSERT INTO membership_charges (tenant_id, operation_id, membership_id, period, attempt, period_start, status, amount, currency, attempted_at)
            VALUES (@TenantId, 'mbr-' || @Suffix, @MembershipId, 0, 0, current_date, 'succeeded', 9900, 'USD', now());
            INSERT INTO membership_benefit_usage (tenant_id, operation_id, membership_id, period, invoice_id, kind, amount, currency, occurred_at)
            VALUES (@TenantId, 'use-' || @Suffix, @MembershipId, 0, @InvoiceId, 'used', 100, 'USD', now());
            INSERT INTO gift_card_settings (tenant_id, clinic_id) VALUES (@TenantId, @ClinicId) ON CONFLICT DO NOTHING;
            INSERT INTO gift_card_codes (tenant_id, code_hash, card_id) VALUES (@TenantId, md5(@Suffix) || md5(@Suffix || 'x'), @InvoiceId);
            INSERT INTO gift_cards (tenant_id, id, code_hash, last4, status, currency, initial_value, paid_amount, bonus_amount, balance, reserved,
                                    source, clinic_id, issued_at, version)
            VALUES (@TenantId, @InvoiceId, md5(@Suffix) || md5(@Suffix || 'x'), 'ABCD', 'active', 'USD', 5000, 5000, 0, 5000, 0, 'online-sale',
                    @ClinicId, now(), 1);
            INSERT INTO gift_card_transactions (tenant_id, card_id, sequence, operation_id, kind, amount, balance_after, currency, occurred_at)
            VALUES (@TenantId, @InvoiceId, 1, 'seed-' || @Suffix, 'issue', 5000, 5000, 'USD', now());
            INSERT INTO gift_card_lookup_failures (tenant_id, scope, key, failed_at) VALUES (@TenantId, 'caller', sha256(@Suffix::bytea), now());
            INSERT INTO gift_card_security_events (tenant_id, id, kind, scope, failures, blocked_until)
            VALUES (@TenantId, gen_random_uuid(), 'lookup-throttled', 'caller', 10, now());
            INSERT INTO gift_card_deliveries (tenant_id, card_id, status, recipient_name, recipient_email, design, attempts, version)
            VALUES (@TenantId, gen_random_uuid(), 'scheduled', 'Seed recipient', 'seed@recipients.example', 'standard', 0, 1);
            INSERT INTO gift_card_designs (tenant_id, id, name, content_type, content, width, height)
            VALUES (@TenantId, gen_random_uuid(), 'Seed design', 'image/png', '\x89504e47', 1, 1);
            INSERT INTO corporate_gift_card_orders (tenant_id, id, clinic_id, status, company, contact_name, contact_email, design, currency,
                                                    subtotal, bonus_percent, bonus, row_count, created_by)
            VALUES (@TenantId, @InvoiceId, @ClinicId, 'placed', 'Seed Corp', 'Seed', 'seed@example.com', 'standard', 'USD', 10000, 0, 0, 1, @UserId);
            INSERT INTO corporate_gift_card_order_rows (tenant_id, order_id, row_number, recipient_name, recipient_email, amount, bonus, card_id)
            VALUES (@TenantId, @InvoiceId, 1, 'Seed', 'seed@example.com', 10000, 0, gen_random_uuid());
            INSERT INTO products (tenant_id, id, name, kind, unit, units_per_package, price_per_unit_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @MembershipPlanId, 'Seed toxin', 'injectable', 'units', 100, 1400, 'USD', 'medical', 'injectables');
            INSERT INTO inventory_lots (tenant_id, clinic_id, product_id, lot_number, expires_on, status, quantity_received, quantity_on_hand,
                                        unit_cost_amount, cost_on_hand, currency, received_at, version)
            VALUES (@TenantId, @ClinicId, @MembershipPlanId, 'SEED1', current_date + 90, 'available', 100, 100, 420, 42000, 'USD', now(), 1);
            INSERT INTO inventory_movements (tenant_id, clinic_id, product_id, sequence, operation_id, kind, lot_number, quantity, cost, currency, occurred_at)
            VALUES (@TenantId, @ClinicId, @MembershipPlanId, 1, 'seed-' || @Suffix, 'receive', 'SEED1', 100, 42000, 'USD', now());
            INSERT INTO inventory_vials (tenant_id, clinic_id, product_id, id, lot_number, reconstituted_at, quantity_opened, quantity_left, version)
            VALUES (@TenantId, @ClinicId, @MembershipPlanId, gen_random_uuid(), 'SEED1', now(), 100, 100, 1);
            INSERT INTO inventory_recalls (tenant_id, product_id, lot_number) VALUES (@TenantId, @MembershipPlanId, 'SEED0');
            INSERT INTO inventory_settings (tenant_id, clinic_id, product_id, low_stock_threshold, version)
            VALUES (@TenantId, @ClinicId, @MembershipPlanId, 50, 1);
            INSERT INTO treatment_charts (tenant_id, visit_id, clinic_id, patient_id, status, version, visit_date, created_at, updated_at)
            VALUES (@TenantId, @InvoiceId, @ClinicId, @PatientId, 'in-progress', 1, now(), now(), now());
            INSERT INTO chart_points (tenant_id, visit_id, point_id, clinic_id, patient_id, visit_date, zone, x, y, product_id, product_name,
                                      product_kind, lot_number, units, version)
            VALUES (@TenantId, @InvoiceId, gen_random_uuid(), @ClinicId, @PatientId, now(), 'forehead', 50, 40, gen_random_uuid(), 'Seed toxin',
                    'neurotoxin', 'SEED-' || @Suffix, 4, 1);
            INSERT INTO chart_zones (tenant_id, clinic_id, name, kind, default_units, position) VALUES (@TenantId, @ClinicId, 'forehead', 'toxin', 20, 0)
            ON CONFLICT DO NOTHING;
            INSERT INTO chart_recall_notices (tenant_id, recall_key, patient_id, email, sent_by)
            VALUES (@TenantId, 'lot:SEED-' || @Suffix, @PatientId, 'seed@example.com', @UserId);
            INSERT INTO chart_billing_adjustments (tenant_id, visit_id, product_id, lot_number, syringes, adjusted_by)
            VALUES (@TenantId, @InvoiceId, gen_random_uuid(), 'SEED-' || @Suffix, 0.5, @UserId);
            INSERT INTO notification_messages (tenant_id, id, clinic_id, patient_id, channel, purpose, kind, to_address, body, status)
            VALUES (@TenantId, gen_random_uuid(), @ClinicId, @PatientId, 'sms', 'transactional', 'message', '+15550100', 'Seed', 'sent');
            INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source)
            VALUES (@TenantId, @PatientId, 'sms', 'staff');
            INSERT INTO notification_templates (tenant_id, clinic_id, kind, subject, body)
            VALUES (@TenantId, @ClinicId, 'receipt', 'Seed', 'Seed {{patient.firstName}}');
            INSERT INTO payment_plans (tenant_id, id, invoice_id, patient_id, clinic_id, status, frequency, total_amount, paid_amount, currency,
                                       installments, version, created_at, updated_at)
            VALUES (@TenantId, @MembershipId, @InvoiceId, @PatientId, @ClinicId, 'active', 'monthly', 30000, 10000, 'USD', 3, 1, now(), now());
            INSERT INTO payment_plan_charges (tenant_id, operation_id, plan_id, installment, attempt, status, amount, currency, attempted_at)
            VALUES (@TenantId, 'plan-' || @Suffix, @MembershipId, 0, 0, 'succeeded', 10000, 'USD', now());
            INSERT INTO notification_clinic_settings (tenant_id, clinic_id, reminder_offset_minutes, quiet_start, quiet_end)
            VALUES (@TenantId, @ClinicId, '{1440}', '21:00', '08:00');
            INSERT INTO inbox_inbound_receipts (tenant_id, message_sid, outcome) VALUES (@TenantId, 'SMseed' || @Suffix, 'inbox');
            INSERT INTO inbox_threads (tenant_id, id, clinic_id, phone, phone_key, patient_id, unread_count, last_message_at)
            VALUES (@TenantId, @InvoiceId, @ClinicId, '+15550100', '5550100', @PatientId, 1, now());
            INSERT INTO inbox_messages (tenant_id, id, thread_id, direction, body, provider_sid)
            VALUES (@TenantId, gen_random_uuid(), @InvoiceId, 'inbound', 'Seed', 'SMseed' || @Suffix);
            INSERT INTO notification_reads (tenant_id, notification_id, user_id)
            SELECT tenant_id, id, @UserId FROM notifications WHERE tenant_id = @TenantId;
            INSERT INTO photo_consents (tenant_id, id, patient_id, granted, method, recorded_by, recorded_at)
            VALUES (@TenantId, gen_random_uuid(), @PatientId, true, 'verbal', @UserId, now());
            INSERT INTO chart_photos (tenant_id, id, visit_id, clinic_id, patient_id, visit_date, content_type, byte_size, sha256, object_key,
                                      key_id, uploaded_by, uploaded_at)
            VALUES (@TenantId, gen_random_uuid(), @InvoiceId, @ClinicId, @PatientId, now(), 'image/jpeg', 1, '\x00', 'seed' || @Suffix, 'k1',
                    @UserId, now());
            INSERT INTO photo_retention (tenant_id, clinic_id, retention_years, updated_by, updated_at)
            VALUES (@TenantId, @ClinicId, 7, @UserId, now());
            INSERT INTO audit_events (tenant_id, seq, id, occurred_at, action, prev_hash, hash)
            VALUES (@TenantId, 1, gen_random_uuid(), now(), 'seed', decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'));
            INSERT INTO sandbox_customers (tenant_id, id, patient_id) VALUES (@TenantId, 'cus_sandbox_' || @Suffix, @PatientId);
            INSERT INTO sandbox_payment_methods (tenant_id, id, profile, customer_id) VALUES (@TenantId, 'pm_sandbox_' || @Suffix, '{}', 'cus_sandbox_' || @Suffix);
            INSERT INTO sandbox_payments (tenant_id, id, payment_method_id, currency, amount, captured, refunded, status, card)
            VALUES (@TenantId, 'pi_sandbox_' || @Suffix, 'pm_sandbox_' || @Suffix, 'USD', 1000, 1000, 0, 1, '{}');
            INSERT INTO sandbox_idempotency_keys (tenant_id, key, fingerprint, answer, answered_at) VALUES (@TenantId, 'seed-' || @Suffix, 'f', '{}', now());
            INSERT INTO chart_signature_images (tenant_id, signature_id, visit_id, png, sha256)
            VALUES (@TenantId, gen_random_uuid(), @InvoiceId, '\x89504e470d0a1a0a', repeat('0', 64));
            INSERT INTO chart_signing_settings (tenant_id, clinic_id, cosign_required, updated_by, updated_at)
            VALUES (@TenantId, @ClinicId, true, @UserId, now());
            INSERT INTO payment_plan_clinic_settings (tenant_id, clinic_id, cancel_rule, updated_by) VALUES (@TenantId, @ClinicId, 'refund-unused', @UserId);
            INSERT INTO notification_marketing_consents (tenant_id, patient_id, channel, allowed, source) VALUES (@TenantId, @PatientId, 'email', true, 'staff');
            INSERT INTO patient_devices (tenant_id, patient_id, token, platform) VALUES (@TenantId, @PatientId, 'seed-device-' || @Suffix, 'ios');
            """,
            args);
    }
}
