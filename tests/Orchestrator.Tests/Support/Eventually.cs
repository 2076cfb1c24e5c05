namespace Orchestrator.Tests.Support;

/// <summary>For effects outside the orchestrator's events (a process exiting): checks until true, bounded.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string failure, int seconds = 15)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new Xunit.Sdk.XunitException(failure);
            }

            await Task.Delay(50);
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> condition, string failure, int seconds = 15)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new Xunit.Sdk.XunitException(failure);
            }

            await Task.Delay(50);
        }
    }
}
