using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Tests.Checkout;

/// <summary>Checkout's refusals go through the one refusal table: each code answers the status it answered when the
/// invoice API mapped its own error kinds (the HTTP tests in this folder check the same statuses end to end).</summary>
public sealed class CheckoutRefusalTableTests
{
    [Theory]
    [InlineData(CheckoutRefusals.PaymentDeclined, StatusCodes.Status402PaymentRequired)]
    [InlineData(CheckoutRefusals.GatewayUnavailable, StatusCodes.Status503ServiceUnavailable)]
    [InlineData(CheckoutRefusals.CaptureFailed, StatusCodes.Status502BadGateway)]
    [InlineData(CheckoutRefusals.RefundFailed, StatusCodes.Status502BadGateway)]
    [InlineData(CheckoutRefusals.HsaFsaLimit, StatusCodes.Status422UnprocessableEntity)]
    [InlineData(CheckoutRefusals.PaymentMethodInvalid, StatusCodes.Status422UnprocessableEntity)]
    [InlineData(CheckoutRefusals.TenderNotSupported, StatusCodes.Status422UnprocessableEntity)]
    [InlineData(CheckoutRefusals.NoDefaultCard, StatusCodes.Status422UnprocessableEntity)]
    [InlineData(CheckoutRefusals.CardNotOnFile, StatusCodes.Status422UnprocessableEntity)]
    [InlineData(CheckoutRefusals.Conflict, StatusCodes.Status409Conflict)]
    [InlineData(CheckoutRefusals.Forbidden, StatusCodes.Status403Forbidden)]
    [InlineData(CheckoutRefusals.NotFound, StatusCodes.Status404NotFound)]
    [InlineData(Refusal.ValidationFailed, StatusCodes.Status400BadRequest)]
    public void Each_checkout_code_answers_its_status(string code, int status) => Assert.Equal(status, Refusals.StatusOf(code));

    [Fact]
    public void A_declined_tender_names_its_index_field_and_decline_code()
    {
        var problem = Assert.IsType<ProblemHttpResult>(
            CheckoutRefusals.ForTender(CheckoutRefusals.PaymentDeclined, "tenders[1]", "Declined.", 1, "insufficient_funds").ToProblem());
        Assert.Equal(StatusCodes.Status402PaymentRequired, problem.StatusCode);
        Assert.Equal("A card was declined.", problem.ProblemDetails.Title);
        Assert.Equal("Declined.", problem.ProblemDetails.Detail);
        Assert.Equal(CheckoutRefusals.PaymentDeclined, problem.ProblemDetails.Extensions["code"]);
        Assert.Equal("tenders[1]", problem.ProblemDetails.Extensions["field"]);
        Assert.Equal(1, problem.ProblemDetails.Extensions["tenderIndex"]);
        Assert.Equal("insufficient_funds", problem.ProblemDetails.Extensions["declineCode"]);
    }
}
