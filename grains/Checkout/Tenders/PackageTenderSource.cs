using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Payments;

namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>Registers <see cref="PackageTenderSource"/> as the source of <see cref="TenderKind.Package"/> tenders.</summary>
public sealed class PackageTenderSourceFactory : ITenderSourceFactory
{
    public TenderKind Kind => TenderKind.Package;

    public ITenderSource Create(TenderContext context) => new PackageTenderSource(context);
}

/// <summary>
/// Package tenders: the package grain (<see cref="IPackageBalanceGrain"/>, the single writer of the balance) holds
/// the sessions or credit when the payment reserves (<c>ReserveAsync</c>: every eligibility and restriction check is
/// the grain's, and its answer decides the value drawn), makes them a redemption when the invoice completes
/// (<c>CommitAsync</c>) and gives them back when the payment fails or the tender is refunded (<c>ReleaseAsync</c>).
/// Each step carries one operation id derived from the invoice and the tender, so the invoice repeating a step after a
/// crash is answered the first answer. Nothing is posted by the grain for these: the invoice posts the tender.
/// </summary>
public sealed class PackageTenderSource(TenderContext context) : ITenderSource
{
    public bool Reserves => true;

    public TenderStep? Unavailable => null;

    /// <summary>The package operation of one tender (stable: the tender id is saved before the first reservation).</summary>
    public static string OperationId(Guid invoiceId, Guid tenderId) => $"invoice:{invoiceId:N}:tender:{tenderId:N}";

    public async Task<TenderStep> ReserveAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        var invoice = context.Invoice();
        if (!Guid.TryParse(tender.Tender.Reference, out var purchaseId))
        {
            return Refused(Refusal.ValidationFailed, "purchaseId", "A package tender names the package it draws on (purchaseId).");
        }

        var line = invoice.Lines.FirstOrDefault(l => l.Id == tender.Tender.LineId);
        if (line?.CatalogItemId is not { } serviceId)
        {
            return Refused(Refusal.ValidationFailed, "serviceLineId", "A package pays a catalog service line of the invoice.");
        }

        if (invoice.PatientId is not { } patientId)
        {
            return Refused(Refusal.ValidationFailed, "purchaseId", "The invoice has no patient: a package is used by its owner or a member.");
        }

        var grain = Grain(purchaseId);
        var current = await Call(grain.GetAsync);
        if (current.Package is not { } package)
        {
            // Another organisation's purchase is simply not found in this one (the grain key carries the tenant).
            return Refused(Refusal.ValidationFailed, "purchaseId", "No such package in this organisation.");
        }

        // A wallet ("bank") package pays by amount; the others by whole sessions of the line's service.
        var wallet = package.Terms.Type == PackageType.Wallet;
        var request = new PackageRedemptionRequest(
            OperationId(context.InvoiceId, tender.Tender.Id), serviceId, wallet ? 1 : PackageTenderRules.Sessions(line),
            wallet ? tender.Tender.Amount : null, patientId, invoice.ClinicId, line.ProviderId, invoice.VisitId, context.Time.GetUtcNow(),
            null, invoice.CreatedBy, context.InvoiceId);
        var answer = await Call(() => grain.ReserveAsync(request));
        if (answer.Refusal is { } refusal)
        {
            return refusal.Code == PackageRefusals.NotFound
                ? Refused(Refusal.ValidationFailed, "purchaseId", "No such package in this organisation.")
                : Refused(refusal.Code, "purchaseId", refusal.Message);
        }

        return new TenderStep(TenderStepStatus.Done, Redeemed: answer.Redemption?.Value ?? tender.Tender.Amount,
            AdditionalCharge: answer.Redemption?.AdditionalCharge is { IsPositive: true } charge ? charge : null);
    }

    public async Task<TenderStep> CaptureAsync(PendingTender tender, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(tender.Tender.Reference, out var purchaseId))
        {
            return Refused(Refusal.ValidationFailed, "purchaseId", "The tender names no package.");
        }

        var answer = await Call(() => Grain(purchaseId).CommitAsync(OperationId(context.InvoiceId, tender.Tender.Id)));
        return answer.Refusal is { } refusal ? Refused(refusal.Code, "purchaseId", refusal.Message) : TenderStep.Done;
    }

    public Task<TenderStep> ReleaseAsync(PendingTender tender, CancellationToken cancellationToken) => GiveBackAsync(tender.Tender);

    /// <summary>A package tender is refunded whole (the invoice refuses part of one): the redemption is released and
    /// its sessions or credit go back to the package.</summary>
    public Task<TenderStep> RefundAsync(Tender tender, TenderRefund refund, string idempotencyKey, CancellationToken cancellationToken) =>
        GiveBackAsync(tender);

    private async Task<TenderStep> GiveBackAsync(Tender tender)
    {
        if (!Guid.TryParse(tender.Reference, out var purchaseId))
        {
            return TenderStep.Done; // no package named: nothing can have been held
        }

        var answer = await Call(() => Grain(purchaseId).ReleaseAsync(OperationId(context.InvoiceId, tender.Id)));
        return answer.Refusal is { Code: not PackageRefusals.NotFound } refusal
            ? Refused(refusal.Code, "purchaseId", refusal.Message)
            : TenderStep.Done;
    }

    private IPackageBalanceGrain Grain(Guid purchaseId) =>
        context.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(context.TenantId, purchaseId));

    /// <summary>A package grain that cannot be reached leaves the outcome unknown, like a gateway timeout: the invoice
    /// then undoes (or retries) the payment with the same operation ids.</summary>
    private static async Task<PackageAnswer> Call(Func<Task<PackageAnswer>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            throw new PaymentGatewayException($"The package could not be reached: {e.Message}", transient: true, e);
        }
    }

    private static TenderStep Refused(string code, string field, string message) =>
        new(TenderStepStatus.Failed, Code: code, Message: message, Field: field);
}
