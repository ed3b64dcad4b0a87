using MedSpa.Api.Infrastructure;

namespace MedSpa.Tests.Infrastructure;

public sealed class RuntimeTuningTests
{
    [Fact]
    public void Apply_sets_the_array_pool_size_when_missing_and_leaves_an_operators_value_alone()
    {
        var name = RuntimeTuning.ArraysPerPartitionVariable;
        var original = Environment.GetEnvironmentVariable(name);
        try
        {
            Environment.SetEnvironmentVariable(name, "123");
            Assert.False(RuntimeTuning.Apply());
            Assert.Equal("123", Environment.GetEnvironmentVariable(name));

            Environment.SetEnvironmentVariable(name, null);
            Assert.True(RuntimeTuning.Apply());
            Assert.Equal("4096", Environment.GetEnvironmentVariable(name));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, original);
        }
    }
}
