namespace MedSpa.Api.Infrastructure;

/// <summary>Which device a change came from: every live-board change records one (visits, rooms, providers).</summary>
public static class DeviceIds
{
    public const string Header = "X-Device-Id";

    /// <summary>X-Device-Id header, else the body's deviceId, else the sign-in session (every change names a device).</summary>
    public static string Of(HttpContext http, string? fromBody, CurrentUser user)
    {
        var header = http.Request.Headers[Header].ToString();
        if (!string.IsNullOrWhiteSpace(header))
        {
            return header.Trim();
        }

        if (!string.IsNullOrWhiteSpace(fromBody))
        {
            return fromBody.Trim();
        }

        return user.SessionId is { } sid ? $"session:{sid:N}" : "unknown";
    }
}
