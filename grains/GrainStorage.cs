namespace MedSpa.Grains;

/// <summary>Grain storage names the silo registers (see MedSpa.Silo's OrleansHosting).</summary>
public static class GrainStorage
{
    /// <summary>PostgreSQL grain storage: <c>[PersistentState("state-name", GrainStorage.Name)]</c>.</summary>
    public const string Name = "medspa";
}
