using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Tests.Notifications;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Benchmarks;

// Appointment reminder benchmark (issue 18 §5): `./medspa bench reminders [--reminders 10000] [--clinics 500] [--lead 180]`.
// N appointments across C clinics (one tenant, clinics in UTC, quiet hours off, one 2-hour reminder each), all starting
// at the same moment, so all N reminders come due in the same second. Half the patients have a mobile number (SMS to a
// Twilio stand-in on loopback: its Messages API, form-encoded), half only an email (SMTP to a loopback SMTP server).
// The reminders are armed through the grains as the appointments API arms them (not timed as part of the run); then the
// Orleans reminders fire on their own. Measured: from the due moment until every message was handed to the stand-ins,
// and the server process's CPU (this process; the stand-ins' share is small) over that span.
public static class ReminderBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = Arg(args, "--reminders", 10_000);
        var clinics = Arg(args, "--clinics", 500);
        var lead = TimeSpan.FromSeconds(Arg(args, "--lead", 180));
        var parallel = Arg(args, "--parallel", 64);
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench reminders.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        const string sid = "AC0000000000000000000000000000bench";
        var messagesPath = $"/2010-04-01/Accounts/{sid}/Messages.json";
        await using var twilio = await ProviderStandIn.StartAsync();
        var sids = 0;
        twilio.Default(messagesPath, request => new CannedAnswer(201,
            $$"""{"sid":"SM{{Interlocked.Increment(ref sids):D32}}","status":"queued","to":{{JsonSerializer.Serialize(request.Form["To"])}}}"""));
        await using var smtp = new LoopbackSmtpServer();
        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = 64 }.ConnectionString;
        var server = new BenchServer(cs, new Dictionary<string, string>
        {
            ["Twilio:AccountSid"] = sid,
            ["Twilio:AuthToken"] = "bench-twilio-token",
            ["Twilio:From"] = "+15005550006",
            ["Twilio:BaseUrl"] = twilio.Url,
            ["Email:Smtp:Host"] = smtp.Host,
            ["Email:Smtp:Port"] = smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "none",
            ["Email:Smtp:MaxRetries"] = "0",
            ["Email:From"] = "clinic@bench.example",
            // The run is about throughput, not the safety limits: one clinic sends 20 in a minute, far under 600.
            ["Notifications:ClinicLimit"] = "100000",
        });
        try
        {
            server.Start();
            var tenant = await server.CreateTenantAsync();
            // The due moment is far enough ahead for seeding and arming; everything is due at `due`.
            var due = DateTimeOffset.UtcNow + lead;
            due = new DateTimeOffset(due.Ticks - due.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
            var start = due.AddHours(2);
            var seed = Stopwatch.StartNew();
            var appointments = await SeedAsync(cs, tenant.TenantId, count, clinics, start);
            var seeded = seed.Elapsed;
            var arm = Stopwatch.StartNew();
            var misplanned = 0;
            await Parallel.ForEachAsync(appointments, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (a, _) =>
            {
                var view = await server.Grains.GetGrain<IAppointmentReminderGrain>(TenantKeys.For(tenant.TenantId, a.Id))
                    .ScheduleAsync(new AppointmentBooking(a.ClinicId, a.PatientId, start));
                if (view.NextDueAt != due) Interlocked.Increment(ref misplanned);
            });
            var armed = arm.Elapsed;
            var margin = due - DateTimeOffset.UtcNow;
            if (misplanned > 0 || margin <= TimeSpan.Zero)
            {
                Console.Error.WriteLine($"{misplanned} reminders planned elsewhere than the due moment, {margin.TotalSeconds:F1} s left before it: "
                                        + "raise --lead.");
                return 1;
            }

            var sms = count - count / 2;
            var email = count / 2;
            Console.WriteLine($"# Reminder benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b)}");
            Console.WriteLine($"{count} appointments in {clinics} clinics seeded in {seeded.TotalSeconds:F1} s; their reminders armed through the grains "
                              + $"in {armed.TotalSeconds:F1} s ({parallel} at a time); all due at {due:HH:mm:ss} UTC ({margin.TotalSeconds:F0} s later)");

            // Idle until the due moment (the reminders fire on their own), then watch the stand-ins fill.
            await Task.Delay(margin > TimeSpan.FromMilliseconds(200) ? margin - TimeSpan.FromMilliseconds(200) : TimeSpan.Zero);
            var process = Process.GetCurrentProcess();
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            double? first = null, half = null;
            var timeout = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(Arg(args, "--timeout", 600));
            int Handed() => twilio.Requests.Count + smtp.Messages.Count;
            while (Handed() < count && DateTimeOffset.UtcNow < timeout)
            {
                var handed = Handed();
                var since = (DateTimeOffset.UtcNow - due).TotalSeconds;
                if (first is null && handed > 0) first = since;
                if (half is null && handed >= count / 2) half = since;
                await Task.Delay(20);
            }

            var all = (DateTimeOffset.UtcNow - due).TotalSeconds;
            process.Refresh();
            var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
            var window = all + 0.2;
            var texts = twilio.Requests.Count;
            var mails = smtp.Messages.Count;
            long logged;
            await using (var conn = new NpgsqlConnection(cs))
            {
                logged = await conn.ExecuteScalarAsync<long>(
                    "SELECT count(*) FROM notification_messages WHERE tenant_id = @TenantId AND status IN ('queued', 'sent')", new { tenant.TenantId });
            }

            Console.WriteLine();
            Console.WriteLine("| reminders | clinics | SMS handed | emails handed | first after due s | half s | all s | reminders/s | server CPU s | cores busy |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {count} | {clinics} | {texts} / {sms} | {mails} / {email} | {first ?? double.NaN:F2} | {half ?? double.NaN:F2} | {all:F2} | {count / all:F0} | {cpu:F1} | {cpu / window:F2} of {Environment.ProcessorCount} |"));
            Console.WriteLine();
            var ok = texts == sms && mails == email && logged == count;
            Console.WriteLine($"Check {(ok ? "PASSED" : "FAILED")}: {texts} texts and {mails} emails handed, {logged} messages logged (SMS `queued` as Twilio answers, email `sent`), "
                              + $"expected {sms} + {email} (each reminder exactly once)");
            return ok ? 0 : 1;
        }
        finally
        {
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    private sealed record Seeded(Guid Id, Guid ClinicId, Guid PatientId);

    /// <summary>Clinics (UTC, one 2-hour reminder, no quiet hours), one provider and one patient per appointment (a
    /// provider cannot be double-booked), every appointment at <paramref name="start"/>.</summary>
    private static async Task<List<Seeded>> SeedAsync(string cs, Guid tenantId, int count, int clinics, DateTimeOffset start)
    {
        await using var conn = new NpgsqlConnection(cs);
        var userId = await conn.ExecuteScalarAsync<Guid>("SELECT id FROM users WHERE tenant_id = @tenantId LIMIT 1", new { tenantId });
        await conn.ExecuteAsync(
            """
            INSERT INTO clinics (tenant_id, id, name, time_zone, currency)
            SELECT @tenantId, md5(@tenantId::text || 'c' || i)::uuid, 'Clinic ' || i, 'UTC', 'USD' FROM generate_series(1, @clinics) AS i;
            INSERT INTO notification_clinic_settings (tenant_id, clinic_id, reminder_offset_minutes)
            SELECT @tenantId, md5(@tenantId::text || 'c' || i)::uuid, '{120}' FROM generate_series(1, @clinics) AS i;
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@tenantId, md5(@tenantId::text || 'svc')::uuid, 'Botox', 'neurotoxin', 30, 0, 'USD', 'medical', 'injectables');
            INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
            SELECT @tenantId, md5(@tenantId::text || 'pr' || i)::uuid, 'Ana', 'Rivera ' || i, 'Ana Rivera ' || i, 'np', '#7c3aed', '{}'
            FROM generate_series(0, @count - 1) AS i;
            INSERT INTO patients (tenant_id, id, first_name, last_name, phone, email)
            SELECT @tenantId, md5(@tenantId::text || 'pt' || i)::uuid, 'Pat', 'No ' || i,
                   CASE WHEN i % 2 = 0 THEN '646' || lpad(i::text, 7, '0') END,
                   CASE WHEN i % 2 = 1 THEN 'p' || i || '@patients.example' END
            FROM generate_series(0, @count - 1) AS i;
            INSERT INTO appointments (tenant_id, id, clinic_id, patient_id, provider_id, service_id, starts_at, duration_minutes, ends_at, created_by)
            SELECT @tenantId, md5(@tenantId::text || 'ap' || i)::uuid, md5(@tenantId::text || 'c' || (1 + i % @clinics))::uuid,
                   md5(@tenantId::text || 'pt' || i)::uuid, md5(@tenantId::text || 'pr' || i)::uuid, md5(@tenantId::text || 'svc')::uuid,
                   @start, 30, @start + interval '30 minutes', @userId
            FROM generate_series(0, @count - 1) AS i;
            """, new { tenantId, clinics, count, start, userId }, commandTimeout: 600);
        return [.. await conn.QueryAsync<Seeded>(
            "SELECT id AS Id, clinic_id AS ClinicId, patient_id AS PatientId FROM appointments WHERE tenant_id = @tenantId", new { tenantId })];
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
