using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using SkiaSharp;

namespace MedSpa.Benchmarks;

// Photo upload benchmark (issue 17 §7): `./medspa bench photos [--uploads 50] [--callers 1,4]`.
// A provider uploads a 5 MB JPEG (camera-like noise, so it does not compress) to a visit's chart through the HTTP API,
// multipart, closed loop: the server checks consent, sniffs it, makes the thumbnail, encrypts both (AES-256-GCM, 64 KiB
// chunks) into the filesystem blob store, writes the row and the audit event, and answers 201. Latency is the whole
// HTTP call as the client sees it, over loopback. Afterwards every stored photo is downloaded once through a signed link
// and compared byte for byte with what was sent (the check), and the download latency is reported too.
public static class PhotoBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var uploads = Arg(args, "--uploads", 50);
        var callers = (ArgText(args, "--callers") ?? "1,4").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench photos.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var blobs = Path.Combine(Path.GetTempPath(), "medspa-bench-blobs-" + Guid.NewGuid().ToString("N"));
        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = 64 }.ConnectionString;
        var server = new BenchServer(cs, new Dictionary<string, string>
        {
            ["Photos:Keys:bench"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Photos:CurrentKeyId"] = "bench",
            ["Photos:Store"] = "filesystem",
            ["Photos:LocalPath"] = blobs,
        });
        try
        {
            server.Start();
            var tenant = await server.CreateTenantAsync();
            var (token, visit) = await SeedAsync(server, tenant);
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 100, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var photo = Photo(5 * 1024 * 1024);

            Console.WriteLine($"# Photo upload benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {LoadAverage()}");
            Console.WriteLine($"photo: {photo.Bytes.Length:N0} bytes JPEG {photo.Width}x{photo.Height}; store: filesystem ({blobs}); "
                              + $"{uploads} timed uploads per row after 5 warm-up uploads; closed loop");
            Console.WriteLine();
            Console.WriteLine("| uploads | callers | errors | uploads/s | MB/s | p50 ms | p99 ms | max ms | target |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
            var ids = new List<Guid>();
            await UploadsAsync(http, visit, photo.Bytes, 1, 5, ids);
            foreach (var c in callers)
            {
                var r = await UploadsAsync(http, visit, photo.Bytes, c, uploads, ids);
                var p = r.Latencies.Order().ToList();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| 5 MB | {c} | {r.Errors} | {r.Latencies.Count / r.Seconds:F1} | {r.Latencies.Count * photo.Bytes.Length / r.Seconds / 1e6:F1} | "
                    + $"{Pct(p, 50):F1} | {Pct(p, 99):F1} | {p[^1]:F1} | p50 ≤ 300 ms |"));
            }

            // The check, and what a download costs: every photo back through its link, byte for byte.
            var downloads = new List<double>();
            var anonymous = new HttpClient(handler, disposeHandler: false) { BaseAddress = server.BaseAddress };
            var same = true;
            foreach (var id in ids)
            {
                var link = await http.PostAsJsonAsync($"/api/photos/{id}/links", new { variant = "original" });
                var url = (await link.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("url").GetString();
                var start = Stopwatch.GetTimestamp();
                var bytes = await anonymous.GetByteArrayAsync(url);
                downloads.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                same &= bytes.AsSpan().SequenceEqual(photo.Bytes);
            }

            downloads.Sort();
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"download through a signed link (decrypting as it streams), {downloads.Count} photos: p50 {Pct(downloads, 50):F1} ms, p99 {Pct(downloads, 99):F1} ms"));
            Console.WriteLine($"load average at the end {LoadAverage()}");
            Console.WriteLine($"Round-trip check {(same ? "PASSED" : "FAILED")}: every stored photo came back byte for byte");
            return same ? 0 : 1;
        }
        finally
        {
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
            if (Directory.Exists(blobs)) Directory.Delete(blobs, recursive: true);
        }
    }

    private sealed class Result
    {
        public List<double> Latencies { get; } = [];
        public int Errors;
        public double Seconds;
    }

    private static async Task<Result> UploadsAsync(HttpClient http, Guid visit, byte[] photo, int callers, int total, List<Guid> ids)
    {
        var result = new Result();
        var left = total;
        var begin = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
            {
                using var form = new MultipartFormDataContent();
                var file = new ByteArrayContent(photo);
                file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
                form.Add(file, "file", "photo.jpg");
                form.Add(new StringContent("glabella"), "zone");
                form.Add(new StringContent("before"), "pairing");
                var start = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync($"/api/visits/{visit}/chart/photos", form);
                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref result.Errors);
                    continue;
                }

                var id = (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetGuid();
                lock (result)
                {
                    result.Latencies.Add(elapsed);
                    ids.Add(id);
                }
            }
        })));
        result.Seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        return result;
    }

    /// <summary>A JPEG of noise whose size is about <paramref name="target"/> bytes (a 12-megapixel camera photo is 3-8 MB).</summary>
    private static (byte[] Bytes, int Width, int Height) Photo(int target)
    {
        var random = new Random(17);
        int width = 1600, height = 1200;
        while (true)
        {
            using var bitmap = new SKBitmap(width, height);
            var pixels = new byte[width * height * 4];
            random.NextBytes(pixels);
            for (var i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 85);
            if (data.Size >= target * 0.95 || width > 6000)
            {
                return (data.ToArray(), width, height);
            }

            var grow = Math.Sqrt(target / (double)data.Size) * 1.02;
            width = (int)(width * grow);
            height = (int)(height * grow);
        }
    }

    private static async Task<(string Token, Guid Visit)> SeedAsync(BenchServer server, BenchTenant tenant)
    {
        var providerId = Guid.NewGuid();
        var providerUser = Guid.NewGuid();
        var serviceId = Guid.NewGuid();
        var patient = Guid.NewGuid();
        var visit = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@TenantId, @providerUser, @email, 'Provider', 'provider', '!');
                INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@TenantId, @providerUser, @ClinicId);
                INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
                VALUES (@TenantId, @providerId, 'Ana', 'Rivera', 'Ana Rivera', 'np', '#7c3aed', ARRAY[@ClinicId]);
                INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
                VALUES (@TenantId, @serviceId, 'Botox', 'neurotoxin', 30, 0, 'USD', 'medical', 'injectables');
                INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patient, 'Bench', 'Patient');
                INSERT INTO appointments (tenant_id, id, clinic_id, patient_id, provider_id, service_id, starts_at, duration_minutes, ends_at, created_by)
                VALUES (@TenantId, @visit, @ClinicId, @patient, @providerId, @serviceId, timestamptz '2030-01-01 09:00+00', 30,
                        timestamptz '2030-01-01 09:30+00', @providerUser);
                INSERT INTO photo_consents (tenant_id, id, patient_id, granted, method, recorded_by, recorded_at)
                VALUES (@TenantId, gen_random_uuid(), @patient, true, 'written', @providerUser, now());
                """,
                new { tenant.TenantId, tenant.ClinicId, providerId, providerUser, serviceId, patient, visit, email = $"p-{providerUser:N}@example.test" });
        }

        var issuer = server.Services.GetRequiredService<AccessTokenIssuer>();
        var (token, _) = issuer.Issue(new TokenSubject(providerUser, tenant.TenantId, Roles.Provider, "p@example.test", "Provider", [tenant.ClinicId], Guid.NewGuid()));
        return (token, visit);
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static double Pct(List<double> sorted, int p) => Stats.Percentile(sorted, p);

    private static int Arg(string[] args, string name, int fallback) =>
        ArgText(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static string? ArgText(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
