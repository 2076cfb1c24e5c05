namespace Orchestrator.Contracts;

/// <summary>
/// Grain references without the per-call lookup: Orleans' <c>GetGrain&lt;T&gt;(key)</c> resolves the interface's grain
/// type from its attributes (reflection) and formats its name on every call, which showed in every task's profile.
/// The types are resolved once per interface here; the reference is then made from its id.
/// </summary>
public static class GrainReferences
{
    public static T Reference<T>(this IGrainFactory grains, string key) where T : IGrainWithStringKey =>
        (T)grains.GetGrain(GrainId.Create(Types<T>.Of(grains).Grain, key), Types<T>.Of(grains).Interface);

    public static T Reference<T>(this IGrainFactory grains, long key) where T : IGrainWithIntegerKey =>
        (T)grains.GetGrain(GrainId.Create(Types<T>.Of(grains).Grain, GrainIdKeyExtensions.CreateIntegerKey(key)), Types<T>.Of(grains).Interface);

    private static class Types<T> where T : IGrain
    {
        private static (GrainType Grain, GrainInterfaceType Interface)? _resolved;

        public static (GrainType Grain, GrainInterfaceType Interface) Of(IGrainFactory grains) => _resolved ??= Resolve(grains);

        private static (GrainType, GrainInterfaceType) Resolve(IGrainFactory grains)
        {
            // A reference made the ordinary way carries both; making it activates nothing.
            var probe = (GrainReference)(object)(typeof(IGrainWithIntegerKey).IsAssignableFrom(typeof(T))
                ? grains.GetGrain(typeof(T), 0L)
                : grains.GetGrain(typeof(T), "type-probe"));
            return (probe.GrainId.Type, probe.InterfaceType);
        }
    }
}
