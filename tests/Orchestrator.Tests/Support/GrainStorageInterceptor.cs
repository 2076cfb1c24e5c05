using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Grains;
using Orleans.Storage;

namespace Orchestrator.Tests.Support;

/// <summary>
/// The orchestrator's own grain storage with a hook before each write, given the state about to be written: a test
/// fails or holds the writes it chooses, as a storage blip or a slow store would. Reads are told by state name, and
/// may be failed or held the same way.
/// </summary>
public sealed class GrainStorageInterceptor(Func<object?, Task> beforeWrite, Func<string, Task>? beforeRead = null)
{
    /// <summary>For <see cref="OrchestratorCluster.StartAsync"/>'s services hook.</summary>
    public void Install(IServiceCollection services)
    {
        var original = services.Single(d => d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, StorageNames.Orchestrator));
        services.Remove(original);
        services.AddKeyedSingleton<IGrainStorage>(StorageNames.Orchestrator, (sp, key) =>
            new Storage((IGrainStorage)original.KeyedImplementationFactory!(sp, key), beforeWrite, beforeRead ?? (_ => Task.CompletedTask)));
    }

    /// <summary>A lifecycle participant as its inner storage is (the Redis provider connects in the silo's start).</summary>
    private sealed class Storage(IGrainStorage inner, Func<object?, Task> beforeWrite, Func<string, Task> beforeRead) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);

        public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            await beforeRead(stateName);
            await inner.ReadStateAsync(stateName, grainId, grainState);
        }

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            await beforeWrite(grainState.State);
            await inner.WriteStateAsync(stateName, grainId, grainState);
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
    }
}
