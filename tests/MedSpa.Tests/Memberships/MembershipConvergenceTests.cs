using System.Net;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Tests.Cluster;
using Orleans.Runtime;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>
/// Issue 19 §1 for enrolment, which changes the membership and the gateway (the first period's charge): an answer lost
/// as a dying silo loses it is executed again by the api and reaches the same membership; the reminder is registered
/// before anything is saved or charged, so a membership never exists without its renewals.
/// </summary>
public sealed partial class MembershipRenewalTests
{
    [Fact]
    public async Task An_enrolment_whose_answer_was_lost_is_answered_201_with_the_one_membership_made_and_its_first_period_charged_once()
    {
        using var w = await WorldAsync();
        factory.GrainCalls.LoseNextAnswers(w.Tenant.TenantId, nameof(IMembershipGrain.EnrolAsync),
            new SiloUnavailableException("The silo died after the enrolment, before its answer (injected)."));

        var enrolled = await w.Desk.EnrolAsync(w.Tenant, w.PatientId, w.PlanId, Guid.NewGuid().ToString("N"));

        Assert.Equal(2, factory.GrainCalls.Passed(w.Tenant.TenantId, nameof(IMembershipGrain.EnrolAsync)));
        var id = enrolled.GetProperty("id").GetGuid();
        var listed = await w.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{w.PatientId}/memberships", null);
        Assert.Equal(id, Assert.Single(listed.EnumerateArray()).GetProperty("id").GetGuid());
        var charge = Assert.Single(factory.Gateway.ChargesOf(id));
        Assert.Equal(PaymentStatus.Succeeded, charge.Status);
    }

    [Fact]
    public async Task An_enrolment_whose_reminder_cannot_be_registered_charges_nothing_and_its_retry_enrols_with_the_reminder()
    {
        using var w = await WorldAsync();
        var id = Guid.NewGuid();
        var grain = factory.Membership(w.Tenant.TenantId, id);
        var command = new EnrolMembershipCommand(w.PatientId, w.PlanId, w.Tenant.ClinicId, null, null, Guid.NewGuid());

        await using (await RemindersRefused.ForAsync(factory.ConnectionString, id))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => grain.EnrolAsync(command));
        }

        // Nothing saved nor charged: a membership without its reminder would never renew.
        Assert.Equal(MembershipRefusals.NotFound, (await grain.GetAsync()).Refusal?.Code);
        Assert.Empty(factory.Gateway.ChargesOf(id));
        Assert.Equal(0, await RemindersRefused.CountAsync(factory.ConnectionString, id));

        var made = await grain.EnrolAsync(command);
        Assert.Equal(id, made.Membership?.Id);
        Assert.Equal(1, await RemindersRefused.CountAsync(factory.ConnectionString, id));
        Assert.Single(factory.Gateway.ChargesOf(id));
    }
}
