using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Core.Domains;

namespace Orchestrator.Tests.Support;

/// <summary>
/// Wraps the silo's real domain runtime (embedded or Docker) to slow or hold its calls, as a slow engine would; the
/// work itself is always the real runtime's.
/// </summary>
public class RuntimeDecorator(IDomainRuntime inner) : IDomainRuntime, IAsyncDisposable
{
    /// <summary>Replaces the registered runtime with <paramref name="decorate"/> around it.</summary>
    public static void Install(IServiceCollection services, Func<IDomainRuntime, RuntimeDecorator> decorate)
    {
        var registered = services.Last(d => d.ServiceType == typeof(IDomainRuntime));
        services.AddSingleton<IDomainRuntime>(sp => registered.ImplementationFactory is { } factory
            ? decorate((IDomainRuntime)factory(sp)) // the container owns the inner one
            : decorate((IDomainRuntime)ActivatorUtilities.CreateInstance(sp, registered.ImplementationType!)).Owning());
    }

    private bool _owned;

    private RuntimeDecorator Owning()
    {
        _owned = true;
        return this;
    }

    public virtual Task<DomainInstance> SpawnAsync(string domainType, CancellationToken cancellationToken = default) => inner.SpawnAsync(domainType, cancellationToken);

    public virtual Task StopAsync(string domainId, CancellationToken cancellationToken = default) => inner.StopAsync(domainId, cancellationToken);

    public Task RemoveAsync(string domainId, CancellationToken cancellationToken = default) => inner.RemoveAsync(domainId, cancellationToken);

    public virtual Task<IReadOnlyList<DomainInstance>> ListAsync(string? domainType = null, CancellationToken cancellationToken = default) => inner.ListAsync(domainType, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        switch (_owned ? inner : null)
        {
            case IAsyncDisposable async:
                await async.DisposeAsync();
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }
}
