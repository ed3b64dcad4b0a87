namespace MedSpa.Grains.Payments;

/// <summary>
/// The sandbox's state in this process only: for a gateway built on its own (unit tests, test hosts that wrap the
/// sandbox). A unit's writes are applied when it returns and dropped when it throws, as PostgreSQL's transaction does.
/// </summary>
public sealed class InMemorySandboxGatewayStore : ISandboxGatewayStore, IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<(Guid, string), SandboxCustomerRecord> _customers = [];
    private readonly Dictionary<(Guid, string), SandboxMethodRecord> _methods = [];
    private readonly Dictionary<(Guid, string), SandboxPaymentRecord> _payments = [];
    private readonly Dictionary<(Guid, string), SandboxAnswerRecord> _answers = [];

    public void Dispose() => _gate.Dispose();

    public async Task<T> RunAsync<T>(Guid tenantId, Func<ISandboxSession, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var session = new Session(this, tenantId);
            var result = await work(session);
            foreach (var apply in session.Writes)
            {
                apply();
            }

            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed class Session(InMemorySandboxGatewayStore store, Guid tenantId) : ISandboxSession
    {
        private readonly Dictionary<string, SandboxCustomerRecord> _customers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, SandboxMethodRecord> _methods = new(StringComparer.Ordinal);
        private readonly Dictionary<string, SandboxPaymentRecord> _payments = new(StringComparer.Ordinal);

        public List<Action> Writes { get; } = [];

        public Task<SandboxCustomerRecord?> FindCustomerAsync(string customerId) =>
            Task.FromResult(_customers.TryGetValue(customerId, out var pending) ? pending : store._customers.GetValueOrDefault((tenantId, customerId)));

        public Task<SandboxMethodRecord?> FindMethodAsync(string paymentMethodId) =>
            Task.FromResult(_methods.TryGetValue(paymentMethodId, out var pending) ? pending : store._methods.GetValueOrDefault((tenantId, paymentMethodId)));

        public Task<IReadOnlyList<SandboxMethodRecord>> MethodsOfAsync(string customerId)
        {
            var merged = store._methods.Where(p => p.Key.Item1 == tenantId).ToDictionary(p => p.Key.Item2, p => p.Value, StringComparer.Ordinal);
            foreach (var (id, method) in _methods)
            {
                merged[id] = method;
            }

            IReadOnlyList<SandboxMethodRecord> attached = merged.Values.Where(m => m.CustomerId == customerId).ToList();
            return Task.FromResult(attached);
        }

        public Task<SandboxPaymentRecord?> FindPaymentAsync(string paymentId) =>
            Task.FromResult(_payments.TryGetValue(paymentId, out var pending) ? pending : store._payments.GetValueOrDefault((tenantId, paymentId)));

        public Task<SandboxAnswerRecord?> FindAnswerAsync(string key, DateTimeOffset notBefore) =>
            Task.FromResult(store._answers.GetValueOrDefault((tenantId, key)) is { } answer && answer.At >= notBefore ? answer : null);

        public Task SaveCustomerAsync(SandboxCustomerRecord customer)
        {
            _customers[customer.Id] = customer;
            Writes.Add(() => store._customers[(tenantId, customer.Id)] = customer);
            return Task.CompletedTask;
        }

        public Task SaveMethodAsync(SandboxMethodRecord method)
        {
            _methods[method.Id] = method;
            Writes.Add(() => store._methods[(tenantId, method.Id)] = method);
            return Task.CompletedTask;
        }

        public Task SavePaymentAsync(SandboxPaymentRecord payment)
        {
            _payments[payment.Id] = payment;
            Writes.Add(() => store._payments[(tenantId, payment.Id)] = payment);
            return Task.CompletedTask;
        }

        public Task SaveAnswerAsync(SandboxAnswerRecord answer, DateTimeOffset forgetBefore)
        {
            Writes.Add(() =>
            {
                foreach (var expired in store._answers.Where(p => p.Key.Item1 == tenantId && p.Value.At < forgetBefore).Select(p => p.Key).ToList())
                {
                    store._answers.Remove(expired);
                }

                store._answers[(tenantId, answer.Key)] = answer;
            });
            return Task.CompletedTask;
        }
    }
}
