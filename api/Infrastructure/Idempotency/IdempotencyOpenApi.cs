using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace MedSpa.Api.Infrastructure.Idempotency;

/// <summary>Documents the <c>Idempotency-Key</c> header on every operation that honours it, so clients see it in /docs.</summary>
internal sealed class IdempotencyKeyOperationTransformer : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        // The last one is the endpoint's own setting when both its group and the endpoint declare it (it wins at run time too).
        var metadata = context.Description.ActionDescriptor.EndpointMetadata.OfType<IdempotencyMetadata>().LastOrDefault();
        if (metadata is null)
        {
            return Task.CompletedTask;
        }

        operation.Parameters ??= [];
        operation.Parameters.Add(new OpenApiParameter
        {
            Name = IdempotencyOptions.HeaderName,
            In = ParameterLocation.Header,
            Required = metadata.Required,
            Description = "A unique value per operation (e.g. a UUID), 1-255 printable characters. A retry with the same key and "
                + "request gets the first answer again (header Idempotency-Replayed: true) for 24 hours; the same key with a "
                + "different request is refused with 422 idempotency_key_reused; while the first is still running, 409 request_in_progress.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = IdempotencyOptions.MaxKeyLength },
        });
        return Task.CompletedTask;
    }
}
