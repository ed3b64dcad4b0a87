using MedSpa.Api.Infrastructure.Idempotency;

namespace MedSpa.Api.Infrastructure;

/// <summary>An endpoint's operation id (the name clients and the OpenAPI document know it by) and its handler.</summary>
public readonly record struct NamedHandler(string Name, Delegate Handler);

public static class ReferenceDataRoutes
{
    /// <summary>
    /// The five routes every reference-data resource (clinics, rooms, providers, services, products, tax rates,
    /// patients) answers, authorized the same way: any staff member reads; <paramref name="writers"/> create (with an
    /// optional Idempotency-Key), replace and retire. DELETE never removes a row: it deactivates or archives it, so
    /// history keeps referring to it.
    /// </summary>
    /// <param name="prefix">The collection's route, e.g. <c>/api/services</c>.</param>
    /// <param name="item">The item's route below it, e.g. <c>/{serviceId:guid}</c>.</param>
    public static IEndpointRouteBuilder MapReferenceData(
        this IEndpointRouteBuilder app, string prefix, string item, string tag, string writers,
        NamedHandler list, NamedHandler get, NamedHandler create, NamedHandler update, NamedHandler retire)
    {
        var resource = app.MapGroup(prefix).WithTags(tag);

        var read = resource.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", list.Handler).WithName(list.Name);
        read.MapGet(item, get.Handler).WithName(get.Name);

        var write = resource.MapGroup("").RequireAuthorization(writers);
        write.MapPost("", create.Handler).WithName(create.Name).WithIdempotency();
        write.MapPut(item, update.Handler).WithName(update.Name);
        write.MapDelete(item, retire.Handler).WithName(retire.Name);
        return app;
    }
}
