using Microsoft.Extensions.Logging;

namespace MedSpa.Silo.Data;

/// <summary>
/// A grain call that failed because PostgreSQL could not be reached drops the activation it ran on. Why: grains change
/// their state in memory and then write it; when the write fails (the database restarting) the activation holds a
/// change nobody was told of (the caller got a 503), which its next successful write would store after all. Dropped,
/// the grain's next call reads the stored state — the truth — again, so a refused request is never applied later. The
/// pooled connections the outage broke are dropped too (<see cref="DatabaseFailures.ForgetPooledConnections"/>).
/// Work a grain keeps durable for later (outboxes, pending intents) is in that stored state and resumes on activation.
/// </summary>
public sealed class DatabaseFailureDeactivation(Npgsql.NpgsqlDataSource dataSource, ILogger<DatabaseFailureDeactivation> logger) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception e) when (DatabaseFailures.IsUnavailable(e))
        {
            logger.LogWarning("Grain {Grain} could not reach PostgreSQL in {Method} ({Error}); its activation is dropped so the next call reads the stored state",
                context.TargetContext.GrainId, context.MethodName, e.GetBaseException().Message);
            DatabaseFailures.ForgetPooledConnections(dataSource);
            context.TargetContext.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationError, e,
                "PostgreSQL was unreachable during a call: the state in memory may be ahead of the stored state."), CancellationToken.None);
            throw;
        }
    }
}
