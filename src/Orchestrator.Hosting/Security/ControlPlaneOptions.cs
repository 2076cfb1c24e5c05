namespace Orchestrator.Hosting.Security;

/// <summary>The control plane's settings, bound from the <c>Cluster</c> section.</summary>
public sealed class ControlPlaneOptions
{
    public const string SectionName = "Cluster";

    /// <summary>The cluster key's source when set (every silo of a cluster must have the same); see <see cref="ClusterKeyProvider"/>.</summary>
    public string? Secret { get; set; }

    /// <summary>Extra system-target interfaces (full names) clients may call, e.g. the test cluster's test hooks.</summary>
    public List<string> ClientSystemTargets { get; set; } = [];
}
