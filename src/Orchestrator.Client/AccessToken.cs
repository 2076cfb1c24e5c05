namespace Orchestrator.Client;

/// <summary>
/// The secret that callers of this orchestrator present: the configured <c>Web:ApiKey</c>, or else the access token
/// from the token file (<see cref="Generated"/>; made by this silo or an earlier one on the machine, see
/// <see cref="AccessTokenFile"/>). A silo registers it as a singleton for everything that authenticates callers.
/// </summary>
public sealed record AccessToken(string Value, bool Generated)
{
    /// <summary>Keeps the secret out of logs and exception messages that print the record.</summary>
    public override string ToString() => $"AccessToken {{ Generated = {Generated} }}";
}
