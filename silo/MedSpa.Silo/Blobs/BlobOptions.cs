namespace MedSpa.Silo.Blobs;

/// <summary>
/// Settings under <c>Photos:</c>. Keys: <c>Photos:Keys:{id}</c> = base64 of 32 random bytes, <c>Photos:CurrentKeyId</c>
/// names the one new objects are encrypted with; older ids stay listed so their objects still decrypt (rotation).
/// Store: <c>Photos:Store</c> = <c>filesystem</c> (default, under <c>Photos:LocalPath</c>) or <c>s3</c>
/// (<c>Photos:S3:*</c>).
/// </summary>
public sealed class BlobOptions
{
    public const string Section = "Photos";

    public Dictionary<string, string> Keys { get; set; } = new(StringComparer.Ordinal);
    public string? CurrentKeyId { get; set; }
    public string Store { get; set; } = "filesystem";
    public string? LocalPath { get; set; }
    public S3BlobOptions S3 { get; set; } = new();
}

public sealed class S3BlobOptions
{
    /// <summary>An S3-compatible endpoint (http://127.0.0.1:4568); empty means AWS itself in <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; set; }
    public string Region { get; set; } = "us-east-1";
    public string Bucket { get; set; } = "medspa-photos";
    public string? AccessKey { get; set; }
    public string? SecretKey { get; set; }
    /// <summary>Path-style URLs (bucket in the path): what S3-compatible servers on one host name need.</summary>
    public bool ForcePathStyle { get; set; } = true;
}
