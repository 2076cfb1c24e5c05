namespace Orchestrator.Grains;

/// <summary>
/// A client's long-poll inside a grain: until a signal, or the wait the client asked for — never longer than the
/// grain's cap and never "forever" (a negative or infinite wait from a client is cut to nothing), so no client can
/// keep a call, its timer and its activation alive at will.
/// </summary>
internal static class ClientWaits
{
    public static async Task UntilAsync(Task signal, TimeSpan requested, TimeSpan cap, TimeProvider time)
    {
        var wait = requested <= TimeSpan.Zero ? TimeSpan.Zero : requested < cap ? requested : cap;
        try
        {
            // The timer goes with the signal (a plain delay would stay queued for all of the wait).
            await signal.WaitAsync(wait, time);
        }
        catch (TimeoutException)
        {
            // Nothing happened meanwhile: the caller gets things as they are and asks again.
        }
    }
}
