using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;

namespace MedSpa.Domain.Tests.Board;

public sealed class PatientNamesTests
{
    [Theory]
    [InlineData("John Doe", "J.D.")]
    [InlineData("john doe", "J.D.")]
    [InlineData("  John   Doe  ", "J.D.")]
    [InlineData("John Michael Doe", "J.D.")]
    [InlineData("Madonna", "M.")]
    [InlineData("Anne-Marie Smith-Jones", "A.S.")]
    [InlineData("Mary-Jane Watson", "M.W.")]
    [InlineData("Ludwig van Beethoven", "L.B.")]
    [InlineData("Élodie Łukasiewicz", "É.Ł.")]
    [InlineData("élodie łukasiewicz", "É.Ł.")]
    [InlineData("E\u0301lodie O\u0308zil", "É.Ö.")] // combining accents, not precomposed letters
    [InlineData("Zoë Ångström", "Z.Å.")]
    [InlineData("Seán O'Brien", "S.O.")]
    [InlineData("Doe, John", "J.D.")]
    [InlineData("Doe,John", "J.D.")]
    [InlineData("John Doe Jr.", "J.D.")]
    [InlineData("John Doe, Jr.", "J.D.")]
    [InlineData("Henry Ford III", "H.F.")]
    [InlineData("(Jim) Beam", "J.B.")]
    [InlineData("Jim - Beam", "J.B.")]
    [InlineData("山田 太郎", "山.太.")]
    [InlineData("Иван Петров", "И.П.")]
    [InlineData("\U0001D49C\U0001D49D Smith", "\U0001D49C.S.")] // a letter outside the BMP stays whole
    [InlineData("Jr.", "J.")]
    [InlineData(",Cher", "C.")]
    [InlineData("", "")]
    [InlineData("   ", "")]
    [InlineData("- ' .", "")]
    [InlineData(null, "")]
    public void Initials(string? fullName, string expected) =>
        Assert.Equal(expected, PatientNames.Initials(fullName));

    [Theory]
    [InlineData("John", "Doe", "J.D.")]
    [InlineData("Mary Ann", "van der Berg", "M.B.")]
    [InlineData("Cher", null, "C.")]
    [InlineData(null, "Smith-Jones", "S.")]
    [InlineData("John", "Doe Jr", "J.D.")]
    [InlineData(" ", "", "")]
    [InlineData(null, null, "")]
    public void Initials_from_first_and_last_name(string? first, string? last, string expected) =>
        Assert.Equal(expected, PatientNames.Initials(first, last));

    [Fact]
    public void Full_names_only_when_the_clinic_opts_in()
    {
        Assert.Equal("J.D.", PatientNames.ForDisplay("John Doe", PatientNameDisplay.Initials));
        Assert.Equal("John Doe", PatientNames.ForDisplay("  John \t Doe ", PatientNameDisplay.FullName));
        Assert.Equal("", PatientNames.ForDisplay(null, PatientNameDisplay.FullName));
        Assert.Equal("", PatientNames.ForDisplay("  ", PatientNameDisplay.FullName));
    }
}
