using System.Reflection;
using MedSpa.Grains.Board;
using MedSpa.Silo.Board;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Board;

/// <summary>
/// The board grains' shape (issue 13): their SQL lives behind stores in the silo, their services come through the
/// constructor (no service locator with a hidden default), and the silo registers the real ones.
/// </summary>
public sealed class BoardGrainShapeTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static readonly string[] Folders = ["MedSpa.Grains.Board", "MedSpa.Grains.Housekeeping"];

    [Fact]
    public void Board_and_housekeeping_grains_touch_no_database_client_and_ask_no_service_provider()
    {
        var offenders = typeof(RoomGrain).Assembly.GetTypes()
            .Where(t => Folders.Contains(t.Namespace))
            .SelectMany(t => UsedTypes(t).Where(Forbidden).Select(used => $"{t.FullName} uses {used.FullName}"))
            .Distinct()
            .ToList();

        Assert.Empty(offenders);
    }

    [Fact]
    public void The_silo_gives_board_grains_the_clinic_board_publisher_and_the_postgres_stores()
    {
        Assert.IsType<ClinicBoardPublisher>(factory.Services.GetRequiredService<IBoardPublisher>());
        Assert.IsType<PostgresBoardFlowStore>(factory.Services.GetRequiredService<IBoardFlowStore>());
        Assert.IsType<PostgresClinicBoardStore>(factory.Services.GetRequiredService<IClinicBoardStore>());
    }

    private static bool Forbidden(Type type) =>
        type == typeof(IServiceProvider) || type.Assembly.GetName().Name is "Npgsql" or "Dapper";

    /// <summary>
    /// The types a type's signatures and fields name. Async methods keep their locals that live across an await (an
    /// open connection, say) as fields of a nested state machine, which <c>GetTypes</c> lists too.
    /// </summary>
    private static IEnumerable<Type> UsedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static |
                                 BindingFlags.DeclaredOnly;
        return type.GetFields(all).Select(f => f.FieldType)
            .Concat(type.GetProperties(all).Select(p => p.PropertyType))
            .Concat(type.GetConstructors(all).SelectMany(c => c.GetParameters()).Select(p => p.ParameterType))
            .Concat(type.GetMethods(all).SelectMany(m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType)))
            .SelectMany(Unwrap);
    }

    private static IEnumerable<Type> Unwrap(Type type)
    {
        yield return type;
        var inner = type.HasElementType ? [type.GetElementType()!] : type.IsGenericType ? type.GetGenericArguments() : [];
        foreach (var part in inner.SelectMany(Unwrap))
        {
            yield return part;
        }
    }
}
