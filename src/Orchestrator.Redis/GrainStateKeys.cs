using Orleans.Runtime;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// Where Orleans' Redis grain storage keeps a grain's state: its default layout, <c>{ServiceId}/state/{grain type}/{grain
/// key}/{state name}</c>. The silo sets this function as the storage's key function, so the retention's expiry and the
/// storage can never disagree about a key.
/// </summary>
public static class GrainStateKeys
{
    public static RedisKey For(string serviceId, GrainId grainId, string stateName) =>
        $"{serviceId}/state/{grainId.Type}/{grainId.Key}/{stateName}";
}
