using MedSpa.Tests.Payments;

namespace MedSpa.Tests.TestHost;

/// <summary>
/// The grain-state writes of some grains fail (a trigger on <c>orleans_grain_state</c>, dropped on dispose), as a
/// database away for those rows would make them fail: the grains whose state name is <c>grainType</c> and whose key
/// contains <c>keyPart</c>. <c>sqlState</c> 57P01 ("terminating connection") is an outage the silo drops the
/// activation for; without it the write fails as a plain error.
/// </summary>
public sealed class GrainStateOutage : IAsyncDisposable
{
    private readonly MedSpaApiFactory _factory;
    private readonly string _name;

    private GrainStateOutage(MedSpaApiFactory factory, string name) => (_factory, _name) = (factory, name);

    public static async Task<GrainStateOutage> StartAsync(MedSpaApiFactory factory, string grainType, Guid keyPart,
        bool updatesOnly = false, string? sqlState = null)
    {
        var name = $"outage_{grainType.Replace('-', '_')}_{keyPart:N}";
        var raise = sqlState is null ? "RAISE EXCEPTION 'simulated outage'" : $"RAISE EXCEPTION 'simulated outage' USING ERRCODE = '{sqlState}'";
        await factory.ExecuteAsync($"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                IF NEW.grain_type = '{grainType}' AND NEW.grain_id_extension LIKE '%{keyPart:N}%' THEN {raise}; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER {name} BEFORE {(updatesOnly ? "UPDATE" : "INSERT OR UPDATE")} ON orleans_grain_state
                FOR EACH ROW EXECUTE FUNCTION {name}();
            """);
        return new GrainStateOutage(factory, name);
    }

    public async ValueTask DisposeAsync() =>
        await _factory.ExecuteAsync($"DROP TRIGGER {_name} ON orleans_grain_state; DROP FUNCTION {_name}();");
}
