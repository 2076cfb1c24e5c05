namespace Orchestrator.Contracts;

/// <summary>
/// Marks a grain method as part of the public surface: a client outside the cluster (the CLI, the client library)
/// may call it. Every other method is internal to the silos, and the silo refuses it to outside callers, so that a
/// client on the gateway cannot report a result, change a scheduler or run any other cluster-internal callback.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ClientCallableAttribute : Attribute;
