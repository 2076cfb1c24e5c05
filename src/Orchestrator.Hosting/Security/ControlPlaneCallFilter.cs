using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Orchestrator.Core.Routing;
using Orchestrator.Grains.Security;

namespace Orchestrator.Hosting.Security;

/// <summary>
/// The authorizer on every grain call (as Temporal puts one on every call). Calls made inside the cluster carry a
/// mark derived from the cluster key, stamped by this filter on the way out of every silo; a call without it comes
/// from outside (a client on the gateway) and may reach only the methods marked <see cref="ClientCallableAttribute"/>,
/// with grain keys that are well formed: a task id is a GUID, a domain type is one routing knows.
/// </summary>
public sealed partial class ControlPlaneCallFilter(
    IClusterKey clusterKey,
    TaskPlanner planner,
    IOptions<ControlPlaneOptions> options,
    IServiceProvider services,
    ILogger<ControlPlaneCallFilter> logger) : IIncomingGrainCallFilter, IOutgoingGrainCallFilter
{

    private const string InternalMarkName = "orchestrator.internal";

    private static readonly ConcurrentDictionary<MethodInfo, bool> ClientCallable = new();

    private string? _mark;

    /// <summary>
    /// The system targets a client needs to connect: the cluster manifest. Every other system target (silo control,
    /// membership, management) stays internal: a client could otherwise list activations or tell a silo it is dead.
    /// </summary>
    private readonly HashSet<string> _clientSystemTargets =
    [
        "Orleans.Runtime.IClusterManifestSystemTarget",
        .. options.Value.ClientSystemTargets,
    ];

    /// <summary>A silo that serves the web side has an access token (configured or generated); its gateway clients must present it too.</summary>
    private readonly AccessToken? _accessToken = services.GetService<AccessToken>();

    // Both run on every grain call: the common case (the mark known and already carried) allocates nothing and awaits nothing.
    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (_mark is not { } mark)
        {
            return MarkAndInvokeAsync(context);
        }

        // Within a call from another silo the ambient context carries the mark already; setting it again would copy it.
        if (RequestContext.Get(InternalMarkName) as string != mark)
        {
            RequestContext.Set(InternalMarkName, mark);
        }

        return context.Invoke();
    }

    private async Task MarkAndInvokeAsync(IOutgoingGrainCallContext context)
    {
        RequestContext.Set(InternalMarkName, await MarkAsync().ConfigureAwait(false));
        await context.Invoke().ConfigureAwait(false);
    }

    public Task Invoke(IIncomingGrainCallContext context) =>
        _mark is { } mark && RequestContext.Get(InternalMarkName) is string given && Matches(given, mark)
            ? context.Invoke()
            : InvokeFromOutsideAsync(context);

    private async Task InvokeFromOutsideAsync(IIncomingGrainCallContext context)
    {
        if (RequestContext.Get(InternalMarkName) is string mark && Matches(mark, await MarkAsync().ConfigureAwait(false)))
        {
            await context.Invoke().ConfigureAwait(false);
            return;
        }

        // A grain's timers are calls of the grain to itself that no outgoing filter sees. (A forged source id gains
        // nothing here: it only runs the target's own timer callback early.)
        if (!IsOwnTimer(context))
        {
            Authorize(context);
        }

        await context.Invoke().ConfigureAwait(false);
    }

    private static bool IsOwnTimer(IIncomingGrainCallContext context) =>
        context.SourceId == context.TargetId && context.InterfaceMethod.DeclaringType is { Name: "IGrainTimerInvoker", Namespace: "Orleans.Runtime" };

    private void Authorize(IIncomingGrainCallContext context)
    {
        // The cluster manifest is what a client loads to connect, before it can present anything; it holds grain type
        // names only. Every other system target is refused to clients, token or not.
        if (context.TargetId.IsSystemTarget())
        {
            if (context.InterfaceMethod.DeclaringType?.FullName is { } name && _clientSystemTargets.Contains(name))
            {
                return;
            }

            LogRefused(context.InterfaceName, context.MethodName, context.TargetId.ToString());
            throw new CallRefusedException($"{context.InterfaceName}.{context.MethodName} is internal to the orchestrator's silos and cannot be called by a client.");
        }

        if (_accessToken is not null && !(RequestContext.Get(AccessTokenCallFilter.RequestContextKey) is string given && Matches(given, _accessToken.Value)))
        {
            LogUnauthenticated(context.InterfaceName, context.MethodName);
            throw new CallRefusedException(
                $"This orchestrator requires its access token from clients: set {AccessTokenCallFilter.SettingKey} (Cluster__AccessToken), or run where the silo's token file ({AccessTokenFile.DefaultPath}) is readable.");
        }

        var method = context.InterfaceMethod;
        if (!ClientCallable.GetOrAdd(method, m => m.GetCustomAttribute<ClientCallableAttribute>() is not null))
        {
            LogRefused(context.InterfaceName, context.MethodName, context.TargetId.ToString());
            throw new CallRefusedException(
                $"{context.InterfaceName}.{context.MethodName} is internal to the orchestrator's silos and cannot be called by a client.");
        }

        switch (context.Grain)
        {
            case ITaskGrain or IWebhookGrain when !Guid.TryParseExact(context.TargetId.Key.ToString(), "D", out _):
                throw new CallRefusedException($"'{context.TargetId.Key}' is not a task id (a GUID such as 3f2b...-...). List tasks with `orchestrator tasks`.");
            case IDomainPoolGrain or IDomainSchedulerGrain when !planner.KnownDomains.Contains(context.TargetId.Key.ToString()):
                throw new CallRefusedException($"'{context.TargetId.Key}' is not a known domain type; known: {string.Join(", ", planner.KnownDomains)}.");
            case IAgentRegistryGrain or ITaskIndexGrain when ((IGrainWithIntegerKey)context.Grain).GetPrimaryKeyLong() != 0:
                throw new CallRefusedException("The agent registry and the task index are single grains with key 0.");
        }
    }

    private async ValueTask<string> MarkAsync()
    {
        if (_mark is { } mark)
        {
            return mark;
        }

        var key = await clusterKey.GetAsync().ConfigureAwait(false);
        return _mark = Convert.ToBase64String(HMACSHA256.HashData(key, "internal call"u8));
    }

    /// <summary>In constant time for equal lengths; the length of a mark or token says nothing secret.</summary>
    private static bool Matches(string given, string expected) =>
        given.Length == expected.Length
        && CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(given.AsSpan()), MemoryMarshal.AsBytes(expected.AsSpan()));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a call to {Interface}.{Method} from a client without the access token")]
    private partial void LogUnauthenticated(string @interface, string method);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a call from outside the cluster to internal method {Interface}.{Method} of {Grain}")]
    private partial void LogRefused(string @interface, string method, string grain);
}
