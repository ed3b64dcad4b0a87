using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Blobs;

/// <summary>
/// Objects in an S3 bucket (AWS, or any S3-compatible server through <c>Photos:S3:ServiceUrl</c>). The encrypted bytes
/// are spooled to a temporary file first (they are ciphertext, so nothing readable touches the disk) so that S3 gets a
/// length and a seekable body it can sign and retry, without a second copy in memory.
/// </summary>
public sealed class S3BlobStore : IBlobStore, IDisposable
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;

    public S3BlobStore(IOptions<BlobOptions> options)
    {
        var o = options.Value.S3;
        // Checksums only where S3 requires them and a plainly signed body (its SHA-256, not the SDK's default streaming
        // trailer): the body is a seekable spool file, and S3-compatible servers (s3rver, MinIO versions) accept this form.
        var config = new AmazonS3Config
        {
            ForcePathStyle = o.ForcePathStyle,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (!string.IsNullOrWhiteSpace(o.ServiceUrl))
        {
            config.ServiceURL = o.ServiceUrl;
            config.AuthenticationRegion = o.Region;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(o.Region);
        }

        _client = string.IsNullOrWhiteSpace(o.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(o.AccessKey, o.SecretKey), config);
        _bucket = o.Bucket;
    }

    public string Kind => "s3";

    public async Task PutAsync(string key, Func<Stream, CancellationToken, Task> write, CancellationToken ct)
    {
        BlobKeys.EnsureValid(key);
        var temp = Path.Combine(Path.GetTempPath(), "medspa-s3-" + Guid.NewGuid().ToString("N"));
        await using var spool = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
            FileOptions.Asynchronous | FileOptions.DeleteOnClose);
        await write(spool, ct);
        spool.Position = 0;
        await _client.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _bucket, Key = key, InputStream = spool, AutoCloseStream = false, UseChunkEncoding = false,
            ContentType = "application/octet-stream",
        }, ct);
    }

    public async Task<Stream?> OpenReadAsync(string key, CancellationToken ct)
    {
        BlobKeys.EnsureValid(key);
        try
        {
            var response = await _client.GetObjectAsync(_bucket, key, ct);
            return new OwningStream(response.ResponseStream, response);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteAsync(string key, CancellationToken ct)
    {
        BlobKeys.EnsureValid(key);
        await _client.DeleteObjectAsync(_bucket, key, ct);
    }

    public void Dispose() => _client.Dispose();

    /// <summary>The response body, disposing the response with it.</summary>
    private sealed class OwningStream(Stream inner, IDisposable owner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
