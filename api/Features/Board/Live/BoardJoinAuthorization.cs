using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Npgsql;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// Who may join a clinic's board (<see cref="ClinicHub.JoinBoard"/>): owner/admin for any clinic of their tenant;
/// provider, front desk and display for a clinic they are assigned to; nobody for a clinic that does not exist or
/// belongs to another tenant (the same answer for both).
/// <para>
/// An authorization requirement on the hub method rather than a <see cref="HubException"/> thrown from it: a refusal is
/// an expected event (a display link opened for the wrong clinic), and SignalR logs every exception a hub method throws
/// as an error with its stack trace, while a failed authorization is logged as what it is — here one warning line
/// without a stack trace — and the caller gets SignalR's plain "unauthorized" hub error.
/// </para>
/// </summary>
public sealed class BoardJoinRequirement : IAuthorizationRequirement
{
    public const string Policy = "board-join";

    public static readonly IReadOnlySet<string> Roles =
        new HashSet<string>
        {
            Infrastructure.Roles.Owner, Infrastructure.Roles.Admin, Infrastructure.Roles.Provider,
            Infrastructure.Roles.FrontDesk, Infrastructure.Roles.Display,
        };
}

public sealed class BoardJoinHandler(NpgsqlDataSource db, ILogger<BoardJoinHandler> logger)
    : AuthorizationHandler<BoardJoinRequirement, HubInvocationContext>
{
    /// <summary>How many (tenant, clinic) pairs <see cref="_existing"/> holds before it starts over.</summary>
    internal const int KnownClinicsLimit = 10_000;

    // Clinics found to exist in their tenant. A clinic is never deleted (closing one keeps its row), so a pair once
    // found stays true and a join need not ask the database again: a wall of screens reconnecting after a deploy costs
    // one query per clinic, not one per screen. The role and clinic-assignment checks (from the token) still run on
    // every join; an unknown pair is always asked.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(Guid Tenant, Guid Clinic), byte> _existing = new();

    protected override async Task HandleRequirementAsync(
        AuthorizationHandlerContext context, BoardJoinRequirement requirement, HubInvocationContext invocation)
    {
        var user = CurrentUser.From(context.User);
        var clinicId = invocation.HubMethodArguments.Count > 0 && invocation.HubMethodArguments[0] is Guid id ? id : Guid.Empty;
        if (user is not null && clinicId != Guid.Empty && BoardJoinRequirement.Roles.Contains(user.Role) && user.CanAccessClinic(clinicId))
        {
            if (_existing.ContainsKey((user.TenantId, clinicId)))
            {
                context.Succeed(requirement);
                return;
            }

            await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, invocation.Context.ConnectionAborted);
            if (await ClinicAccess.IsVisibleAsync(conn, user, clinicId, invocation.Context.ConnectionAborted))
            {
                if (_existing.Count >= KnownClinicsLimit) _existing.Clear();
                _existing.TryAdd((user.TenantId, clinicId), 0);
                context.Succeed(requirement);
                return;
            }
        }

        logger.LogWarning("JoinBoard refused: user {UserId} ({Role}) of tenant {TenantId} cannot see clinic {ClinicId}",
            user?.UserId, user?.Role, user?.TenantId, clinicId);
    }
}
