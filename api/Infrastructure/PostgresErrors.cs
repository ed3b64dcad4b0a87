using Npgsql;

namespace MedSpa.Api.Infrastructure;

/// <summary>PostgreSQL error classes the endpoints turn into 4xx answers instead of 500s.</summary>
public static class PostgresErrors
{
    public static bool IsUniqueViolation(this PostgresException e) => e.SqlState == PostgresErrorCodes.UniqueViolation;

    public static bool IsForeignKeyViolation(this PostgresException e) => e.SqlState == PostgresErrorCodes.ForeignKeyViolation;
}
