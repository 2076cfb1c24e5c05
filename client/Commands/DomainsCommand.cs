using System.CommandLine;
using System.Text.Json.Nodes;
using Orchestrator.Client;
using Orchestrator.Contracts;
using Spectre.Console;

namespace Orchestrator.Cli.Commands;

/// <summary><c>orchestrator domains</c> [list | spawn | stop | cleanup | pause | resume]: the domain instances of every type, and their queues.</summary>
internal static class DomainsCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var command = new Command("domains", "List domains with their health and queues; spawn, stop and clean them up") { json };
        CliAction.Set(command, (parse, ct) => ListAsync(parse.GetValue(json), ct));

        var listJson = CommonOptions.Json();
        var list = new Command("list", "List domains with their health and queues") { listJson };
        CliAction.Set(list, (parse, ct) => ListAsync(parse.GetValue(listJson), ct));

        var type = new Argument<string>("domain-type") { Description = "backend, frontend, devops, or a configured domain" };
        var spawnJson = CommonOptions.Json();
        var spawn = new Command("spawn", "Start a new domain instance") { type, spawnJson };
        CliAction.Set(spawn, async (parse, ct) =>
        {
            await using var connection = await CliAction.ConnectAsync(ct);
            var domain = await connection.Client.SpawnDomainAsync(parse.GetValue(type)!, ct);
            if (parse.GetValue(spawnJson))
            {
                Render.Json(ToJson(domain));
            }
            else
            {
                AnsiConsole.MarkupLine($"Spawned [bold]{domain.DomainId}[/]");
            }

            return 0;
        });

        var id = new Argument<string>("domain-id") { Description = "The domain's id, e.g. backend-1a2b3c4d" };
        var stop = new Command("stop", "Stop a domain instance; its in-flight work runs elsewhere") { id };
        CliAction.Set(stop, async (parse, ct) =>
        {
            await using var connection = await CliAction.ConnectAsync(ct);
            var domainId = parse.GetValue(id)!;
            if (!await connection.Client.StopDomainAsync(domainId, ct))
            {
                throw new InvalidTaskRequestException($"No domain {domainId} runs; list them with `orchestrator domains`.");
            }

            AnsiConsole.MarkupLine($"Stopped [bold]{Markup.Escape(domainId)}[/]");
            return 0;
        });

        var all = new Option<bool>("--all") { Description = "Stop and remove every domain, not only the stopped ones" };
        var cleanupJson = CommonOptions.Json();
        var cleanup = new Command("cleanup", "Remove stopped domains (with --all: stop and remove all)") { all, cleanupJson };
        CliAction.Set(cleanup, async (parse, ct) =>
        {
            await using var connection = await CliAction.ConnectAsync(ct);
            var removed = await connection.Client.CleanupDomainsAsync(parse.GetValue(all), ct);
            if (parse.GetValue(cleanupJson))
            {
                Render.Json(new JsonArray(removed.Select(r => (JsonNode?)r).ToArray()));
            }
            else
            {
                AnsiConsole.MarkupLine(removed.Count == 0 ? "Nothing to clean up." : $"Removed {Markup.Escape(string.Join(", ", removed))}");
            }

            return 0;
        });

        command.Add(list);
        command.Add(spawn);
        command.Add(stop);
        command.Add(cleanup);
        command.Add(QueueHold("pause", "Hold a domain type's queue: tasks are still taken and queued, nothing more is dispatched; work in flight runs on", paused: true));
        command.Add(QueueHold("resume", "Let a paused domain type's queue go again", paused: false));
        return command;
    }

    private static Command QueueHold(string name, string description, bool paused)
    {
        var type = new Argument<string>("domain-type") { Description = "backend, frontend, devops, or a configured domain" };
        var json = CommonOptions.Json();
        var command = new Command(name, description) { type, json };
        CliAction.Set(command, async (parse, ct) =>
        {
            await using var connection = await CliAction.ConnectAsync(ct);
            var queue = await connection.Client.PauseDomainAsync(parse.GetValue(type)!, paused);
            if (parse.GetValue(json))
            {
                Render.Json(QueueJson(queue));
            }
            else
            {
                AnsiConsole.MarkupLine($"[bold]{Markup.Escape(queue.Domain)}[/] {(queue.Paused ? "paused" : "resumed")}: {queue.QueuedHigh + queue.QueuedNormal + queue.QueuedLow} queued, {queue.InFlight} in flight");
            }

            return 0;
        });
        return command;
    }

    private static JsonObject QueueJson(SchedulerView queue) => new()
    {
        ["domain_type"] = queue.Domain,
        ["paused"] = queue.Paused,
        ["queued"] = new JsonObject { ["high"] = queue.QueuedHigh, ["normal"] = queue.QueuedNormal, ["low"] = queue.QueuedLow },
        ["in_flight"] = queue.InFlight,
        ["capacity"] = queue.Capacity,
    };

    private static async Task<int> ListAsync(bool json, CancellationToken ct)
    {
        await using var connection = await CliAction.ConnectAsync(ct);
        var pools = await connection.Client.ListDomainsAsync();
        if (json)
        {
            Render.Json(new JsonArray(pools.Select(p =>
            {
                var pool = QueueJson(p.Queue);
                pool["domains"] = new JsonArray(p.Domains.Select(d => (JsonNode?)ToJson(d)).ToArray());
                return (JsonNode?)pool;
            }).ToArray()));
            return 0;
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumns("Type", "Domain", "Status", "Healthy", "Managed", "Age", "Queued h/n/l", "In flight");
        foreach (var pool in pools)
        {
            var queue = $"{pool.Queue.QueuedHigh}/{pool.Queue.QueuedNormal}/{pool.Queue.QueuedLow}" + (pool.Queue.Paused ? " [yellow]paused[/]" : "");
            if (pool.Domains.Count == 0)
            {
                table.AddRow(pool.DomainType, "[grey](none)[/]", "", "", "", "", queue, pool.Queue.InFlight.ToString());
            }

            foreach (var d in pool.Domains)
            {
                table.AddRow(pool.DomainType, d.DomainId, d.Status.ToString().ToLowerInvariant(), d.Healthy ? "[green]yes[/]" : "[red]no[/]",
                    d.Managed ? "yes" : "registered", Render.Age(d.CreatedAt), queue, pool.Queue.InFlight.ToString());
            }
        }

        AnsiConsole.Write(table);
        return 0;
    }

    private static JsonObject ToJson(DomainView d) => new()
    {
        ["domain_id"] = d.DomainId,
        ["domain_type"] = d.DomainType,
        ["status"] = d.Status.ToString().ToLowerInvariant(),
        ["healthy"] = d.Healthy,
        ["managed"] = d.Managed,
        ["created_at"] = d.CreatedAt.ToString("O"),
        ["concurrency"] = d.Concurrency,
        ["detail"] = d.Detail,
    };
}

/// <summary><c>orchestrator agents</c>: the registry.</summary>
internal static class AgentsCommand
{
    public static Command Create()
    {
        var json = CommonOptions.Json();
        var command = new Command("agents", "List registered agents and their health") { json };
        CliAction.Set(command, async (parse, ct) =>
        {
            await using var connection = await CliAction.ConnectAsync(ct);
            var agents = await connection.Client.ListAgentsAsync();
            if (parse.GetValue(json))
            {
                Render.Json(new JsonArray(agents.Select(a => (JsonNode?)new JsonObject
                {
                    ["agent_id"] = a.AgentId,
                    ["role"] = a.Role,
                    ["domain_type"] = a.DomainType,
                    ["status"] = a.Status,
                    ["healthy"] = a.Healthy,
                    ["container_id"] = a.ContainerId,
                    ["created_at"] = a.CreatedAt.ToString("O"),
                    ["last_heartbeat"] = a.LastHeartbeat?.ToString("O"),
                }).ToArray()));
                return 0;
            }

            var table = new Table().Border(TableBorder.Rounded).AddColumns("Agent", "Role", "Domain", "Status", "Healthy", "Last heartbeat");
            foreach (var a in agents)
            {
                table.AddRow(a.AgentId, a.Role, a.DomainType ?? "", a.Status, a.Healthy ? "[green]yes[/]" : "[red]no[/]",
                    a.LastHeartbeat is { } beat ? Render.Age(beat) + " ago" : "");
            }

            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
