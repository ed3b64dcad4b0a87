using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Infrastructure.Idempotency;

public sealed class IdempotencyOpenApiTests
{
    [Fact]
    public async Task The_openapi_document_declares_the_header_required_or_optional_per_endpoint()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.WebHost.UseTestServer();
        // The server's own OpenAPI setup (calling AddOpenApi here would run the OpenAPI source generator in this project).
        builder.AddMedSpaApiConventions();
        builder.Services.AddMedSpaIdempotency();
        await using var app = builder.Build();
        app.MapMedSpaApiReference();
        app.MapPost("/redeem", () => TypedResults.Ok()).WithIdempotency(required: true);
        app.MapPost("/create", () => TypedResults.Ok()).WithIdempotency();
        app.MapPost("/plain", () => TypedResults.Ok());
        await app.StartAsync();

        using var doc = JsonDocument.Parse(await app.GetTestClient().GetStringAsync("/openapi/v1.json"));
        var paths = doc.RootElement.GetProperty("paths");

        Assert.True(HeaderParameter(paths, "/redeem")?.GetProperty("required").GetBoolean());
        Assert.False(HeaderParameter(paths, "/create") is { } optional && optional.TryGetProperty("required", out var r) && r.GetBoolean());
        Assert.NotNull(HeaderParameter(paths, "/create"));
        Assert.Null(HeaderParameter(paths, "/plain"));
    }

    private static JsonElement? HeaderParameter(JsonElement paths, string path)
    {
        var post = paths.GetProperty(path).GetProperty("post");
        if (!post.TryGetProperty("parameters", out var parameters))
        {
            return null;
        }

        return parameters.EnumerateArray()
            .Where(p => p.GetProperty("name").GetString() == IdempotencyOptions.HeaderName && p.GetProperty("in").GetString() == "header")
            .Cast<JsonElement?>().FirstOrDefault();
    }
}
