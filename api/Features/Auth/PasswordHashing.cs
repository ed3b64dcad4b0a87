using System.Security.Cryptography;
using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.Identity;

namespace MedSpa.Api.Features.Auth;

public enum PasswordCheck
{
    Failed,
    Succeeded,
    /// <summary>Right password, but hashed with weaker parameters than today's: store a fresh hash.</summary>
    SucceededRehashNeeded,
}

/// <summary>
/// Password hashing with ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/> (PBKDF2-HMAC-SHA512, 100,000
/// iterations, random salt, versioned format) and the password policy.
/// </summary>
public sealed class PasswordHashing
{
    public const int MinLength = 10;
    public const int MaxLength = 256;

    private readonly PasswordHasher<object> _hasher = new();

    // A real hash of a random password: verifying against it costs the same as a real check, so an unknown email
    // answers as slowly as a wrong password and timing does not reveal which emails exist.
    private readonly Lazy<string> _dummyHash;

    public PasswordHashing()
    {
        _dummyHash = new Lazy<string>(() => Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))));
    }

    public string Hash(string password) => _hasher.HashPassword(this, password);

    public PasswordCheck Verify(string storedHash, string password)
    {
        try
        {
            return _hasher.VerifyHashedPassword(this, storedHash, password) switch
            {
                PasswordVerificationResult.Success => PasswordCheck.Succeeded,
                PasswordVerificationResult.SuccessRehashNeeded => PasswordCheck.SucceededRehashNeeded,
                _ => PasswordCheck.Failed,
            };
        }
        catch (FormatException)
        {
            // Not a hash at all (e.g. '!' for accounts that must not sign in with a password). Still pay the cost.
            VerifyDummy(password);
            return PasswordCheck.Failed;
        }
    }

    /// <summary>Spends the time of one verification and always fails.</summary>
    public void VerifyDummy(string password) => _hasher.VerifyHashedPassword(this, _dummyHash.Value, password);

    public static Validation CheckPolicy(Validation validation, string field, string? password)
    {
        if (string.IsNullOrEmpty(password))
        {
            return validation.Add(field, $"{field} is required.");
        }

        if (password.Length < MinLength)
        {
            validation.Add(field, $"{field} must be at least {MinLength} characters.");
        }
        else if (password.Length > MaxLength)
        {
            validation.Add(field, $"{field} must be at most {MaxLength} characters.");
        }

        return validation;
    }
}
