namespace Orchestrator.Client;

/// <summary>
/// Presents the orchestrator's access token on every call a client makes through the gateway; the silos refuse
/// calls from clients without it. The token is <c>Cluster:AccessToken</c> when configured (e.g. the compose
/// cluster's <c>ORCHESTRATOR_API_KEY</c>), else the token file a silo on this machine wrote (<see cref="AccessTokenFile"/>).
/// </summary>
public sealed class AccessTokenCallFilter(string? token) : IOutgoingGrainCallFilter
{
    /// <summary>The request-context entry the silo's control-plane filter reads.</summary>
    public const string RequestContextKey = "orchestrator.access-token";

    public const string SettingKey = "Cluster:AccessToken";

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (token is not null)
        {
            RequestContext.Set(RequestContextKey, token);
        }

        return context.Invoke();
    }
}
