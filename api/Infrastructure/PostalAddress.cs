namespace MedSpa.Api.Infrastructure;

/// <summary>A postal address as clinics and patients carry it. Every part is optional; country is ISO 3166 alpha-2.</summary>
public sealed record PostalAddress(string? Line1, string? Line2, string? City, string? Region, string? PostalCode, string? Country);
