using System.Text;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Notifications;
using MedSpa.Tests.Payments;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedSpa.Tests.Notifications;

/// <summary>The Twilio SMS sender against a stand-in of Twilio's Messages API on loopback.</summary>
public sealed class TwilioSmsSenderTests : IAsyncLifetime
{
    private const string Sid = "AC0123456789abcdef0123456789abcdef";
    private const string Token = "test-auth-token-not-a-secret";
    private static readonly string MessagesPath = $"/2010-04-01/Accounts/{Sid}/Messages.json";
    private ProviderStandIn _twilio = null!;

    public async Task InitializeAsync() => _twilio = await ProviderStandIn.StartAsync();

    public async Task DisposeAsync() => await _twilio.DisposeAsync();

    private TwilioSmsSender Sender(int maxRetries = 2, string from = "+15005550006") => new(
        new HttpClient(),
        Microsoft.Extensions.Options.Options.Create(new TwilioOptions
        {
            AccountSid = Sid, AuthToken = Token, From = from, BaseUrl = _twilio.Url, MaxRetries = maxRetries, RetryDelay = TimeSpan.FromMilliseconds(5),
        }),
        NullLogger<TwilioSmsSender>.Instance);

    [Fact]
    public async Task Sends_a_form_encoded_message_with_basic_auth_and_returns_twilios_sid()
    {
        _twilio.Enqueue(MessagesPath, new CannedAnswer(201, """{"sid":"SM1111","status":"queued","to":"+12125550101"}"""));

        var result = await Sender().SendAsync(new SmsMessage("+12125550101", "Your appointment is tomorrow at 10:00 & bring ID", "https://spa.example/cb"));

        Assert.True(result.Sent);
        Assert.Equal("SM1111", result.ProviderId);
        Assert.Equal("queued", result.Status);
        var request = Assert.Single(_twilio.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal(MessagesPath, request.Path);
        Assert.StartsWith("application/x-www-form-urlencoded", request.ContentType);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Sid}:{Token}")), request.Authorization);
        Assert.Equal("+12125550101", request.Form["To"]);
        Assert.Equal("+15005550006", request.Form["From"]);
        Assert.Equal("Your appointment is tomorrow at 10:00 & bring ID", request.Form["Body"]);
        Assert.Equal("https://spa.example/cb", request.Form["StatusCallback"]);
    }

    [Fact]
    public async Task A_messaging_service_sid_is_sent_as_MessagingServiceSid()
    {
        _twilio.Enqueue(MessagesPath, new CannedAnswer(201, """{"sid":"SM2222","status":"accepted"}"""));

        var result = await Sender(from: "MG0123456789abcdef0123456789abcdef").SendAsync(new SmsMessage("+12125550101", "Hi"));

        Assert.Equal("queued", result.Status); // "accepted" (messaging service) is still queued
        var form = Assert.Single(_twilio.Requests).Form;
        Assert.Equal("MG0123456789abcdef0123456789abcdef", form["MessagingServiceSid"]);
        Assert.False(form.ContainsKey("From"));
        Assert.False(form.ContainsKey("StatusCallback"));
    }

    [Fact]
    public async Task A_4xx_error_object_is_returned_as_a_permanent_failure_without_retrying()
    {
        _twilio.Enqueue(MessagesPath, new CannedAnswer(400,
            """{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"""));
        var sender = Sender();

        var result = await sender.SendAsync(new SmsMessage("+1555", "Hi"));

        Assert.False(result.Sent);
        Assert.True(result.Permanent);
        Assert.Equal("21211", result.ErrorCode);
        Assert.Equal("The 'To' number +1555 is not a valid phone number.", result.Error);
        Assert.Equal(1, sender.Attempts);
    }

    [Fact]
    public async Task Answers_503_and_429_are_retried_until_twilio_takes_the_message()
    {
        _twilio.Enqueue(MessagesPath, new CannedAnswer(503, """{"code":20503,"message":"Service unavailable","status":503}"""));
        _twilio.Enqueue(MessagesPath, new CannedAnswer(429, """{"code":20429,"message":"Too Many Requests","status":429}"""));
        _twilio.Enqueue(MessagesPath, new CannedAnswer(201, """{"sid":"SM3333","status":"queued"}"""));
        var sender = Sender(maxRetries: 3);

        var result = await sender.SendAsync(new SmsMessage("+12125550101", "Hi"));

        Assert.True(result.Sent);
        Assert.Equal("SM3333", result.ProviderId);
        Assert.Equal(3, sender.Attempts);
        Assert.Equal(3, _twilio.To(MessagesPath).Count);
    }

    [Fact]
    public async Task After_the_last_retry_a_5xx_is_a_transient_failure_with_twilios_message()
    {
        _twilio.Default(MessagesPath, _ => new CannedAnswer(500, """{"code":20500,"message":"Internal Server Error","status":500}"""));
        var sender = Sender(maxRetries: 2);

        var result = await sender.SendAsync(new SmsMessage("+12125550101", "Hi"));

        Assert.False(result.Sent);
        Assert.False(result.Permanent);
        Assert.Equal("20500", result.ErrorCode);
        Assert.Equal(3, sender.Attempts);
    }

    [Fact]
    public async Task Without_an_account_nothing_is_sent_and_the_channel_says_so()
    {
        var sender = new TwilioSmsSender(new HttpClient(), Microsoft.Extensions.Options.Options.Create(new TwilioOptions { BaseUrl = _twilio.Url }),
            NullLogger<TwilioSmsSender>.Instance);

        var result = await sender.SendAsync(new SmsMessage("+12125550101", "Hi"));

        Assert.False(result.Sent);
        Assert.Equal("not_configured", result.ErrorCode);
        Assert.Empty(_twilio.Requests);
    }

    [Fact]
    public void The_signature_is_hmac_sha1_of_the_url_and_the_sorted_form_fields()
    {
        // Twilio's documented example (https://www.twilio.com/docs/usage/security#validating-requests).
        var form = new Dictionary<string, string>
        {
            ["CallSid"] = "CA1234567890ABCDE", ["Caller"] = "+12349013030", ["Digits"] = "1234", ["From"] = "+12349013030",
            ["To"] = "+18005551212",
        };

        var signature = TwilioSignature.Compute("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form);

        Assert.Equal("0/KCTR6DLpKmkAf8muzZqo1nDgQ=", signature);
        Assert.True(TwilioSignature.IsValid("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form, signature));
        Assert.False(TwilioSignature.IsValid("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", form, signature));
    }

    [Fact]
    public async Task Logs_show_neither_the_auth_token_nor_the_whole_phone_number()
    {
        _twilio.Enqueue(MessagesPath, new CannedAnswer(503, """{"code":20503,"message":"Service unavailable","status":503}"""));
        _twilio.Enqueue(MessagesPath, new CannedAnswer(201, """{"sid":"SM4444","status":"queued"}"""));
        _twilio.Enqueue(MessagesPath, new CannedAnswer(400, """{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}"""));
        using var logs = new CapturedLogs();
        using var loggerFactory = new LoggerFactory([logs]);
        var sender = new TwilioSmsSender(new HttpClient(), Microsoft.Extensions.Options.Options.Create(new TwilioOptions
        {
            AccountSid = Sid, AuthToken = Token, From = "+15005550006", BaseUrl = _twilio.Url, MaxRetries = 2, RetryDelay = TimeSpan.FromMilliseconds(5),
        }), loggerFactory.CreateLogger<TwilioSmsSender>());

        Assert.True((await sender.SendAsync(new SmsMessage("+12125550101", "Hi"))).Sent);
        Assert.Equal("21610", (await sender.SendAsync(new SmsMessage("+12125550101", "Hi"))).ErrorCode);

        Assert.True(logs.Entries.Count >= 3); // the retry, the accepted send and the refusal were logged
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Sid}:{Token}"));
        Assert.All(logs.Entries, e =>
        {
            Assert.DoesNotContain(Token, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(basic, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("2125550101", e.Message, StringComparison.Ordinal);
        });
        Assert.Contains(logs.Entries, e => e.Message.Contains("0101", StringComparison.Ordinal));
    }
}
