using System.Buffers;
using System.Text;
using System.Text.Json;
using Orchestrator.Contracts;
using Orchestrator.Core.Protocol;
using StackExchange.Redis;

namespace Orchestrator.Redis;

/// <summary>
/// The reference's <c>results:{task_id}</c> hash and the JSON published on its channel: fields <c>task_id</c>,
/// <c>status</c>, <c>output</c> (a JSON object as a string), <c>error</c>, <c>started_at</c>, <c>completed_at</c>;
/// ours adds <c>agent_id</c>, <c>lease_proof</c> (see <see cref="LeaseProof"/>), and <c>diff</c> with <c>diff_proof</c>
/// (see <see cref="DiffRecord"/>), which the reference ignores.
/// </summary>
public static class ResultRecord
{
    /// <summary>The largest <c>output</c> accepted from the wire; a larger one fails the task with a reason.</summary>
    public const int MaxOutputBytes = 1024 * 1024;

    public const string Pending = "pending";
    public const string InProgress = "in_progress";
    public const string Completed = "completed";
    public const string Failed = "failed";

    /// <summary>The fields a worker writes when a task ends.</summary>
    public static HashEntry[] FinalFields(AgentResult result)
    {
        var fields = new List<HashEntry>
        {
            new("task_id", result.TaskId),
            new("status", result.Succeeded ? Completed : Failed),
            new("output", result.OutputJson ?? "{}"),
            new("error", result.Error ?? ""),
            new("completed_at", WireFormat.Timestamp(result.CompletedAt ?? DateTimeOffset.UtcNow)),
        };
        if (result.StartedAt is { } started)
        {
            fields.Add(new("started_at", WireFormat.Timestamp(started)));
        }

        if (result.AgentId is { } agent)
        {
            fields.Add(new("agent_id", agent));
        }

        if (result.LeaseProof is { } proof)
        {
            fields.Add(new("lease_proof", proof));
        }

        if (result.DiffJson is { } diff)
        {
            fields.Add(new("diff", diff));
            fields.Add(new("diff_proof", result.DiffProof ?? ""));
        }

        return fields.ToArray();
    }

    /// <summary>The JSON object published on <c>results:{task_id}</c>: the fields written.</summary>
    public static string ToPublishedJson(HashEntry[] fields)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var field in fields)
            {
                json.WriteString(field.Name.ToString(), field.Value.ToString());
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>A final result from the hash's fields; null while the task is not final. Throws <see cref="WireFormatException"/> for bad fields.</summary>
    public static AgentResult? FromFields(string taskId, IReadOnlyDictionary<string, string?> fields)
    {
        var status = fields.GetValueOrDefault("status");
        if (status is not (Completed or Failed))
        {
            return status is null or Pending or InProgress
                ? null
                : throw new WireFormatException($"'status' is '{status}', not pending, in_progress, completed or failed");
        }

        if (fields.GetValueOrDefault("task_id") is { Length: > 0 } stated && stated != taskId)
        {
            throw new WireFormatException($"'task_id' is '{stated}' in the result of {taskId}");
        }

        var output = fields.GetValueOrDefault("output");
        var error = NullIfEmpty(fields.GetValueOrDefault("error"));
        var succeeded = status == Completed;
        if (output is not null && output.Length > MaxOutputBytes / 4 && Encoding.UTF8.GetByteCount(output) > MaxOutputBytes)
        {
            error = $"The worker's output is {Encoding.UTF8.GetByteCount(output)} bytes; the limit is {MaxOutputBytes}";
            (output, succeeded) = (null, false);
        }
        else if (!string.IsNullOrEmpty(output) && !IsJsonObject(output))
        {
            (output, succeeded, error) = (null, false, "The worker's output is not a JSON object");
        }

        // An oversized diff is dropped with its proof; the result it came with still counts.
        var diff = NullIfEmpty(fields.GetValueOrDefault("diff")) is { } text && (text.Length <= DiffRecord.MaxJsonBytes / 4
            || Encoding.UTF8.GetByteCount(text) <= DiffRecord.MaxJsonBytes) ? text : null;
        return new AgentResult
        {
            TaskId = taskId,
            Succeeded = succeeded,
            OutputJson = string.IsNullOrEmpty(output) ? null : output,
            Error = succeeded ? null : error ?? "The worker reported a failure without a reason",
            StartedAt = WireFormat.ParseTimestamp(fields.GetValueOrDefault("started_at")),
            CompletedAt = WireFormat.ParseTimestamp(fields.GetValueOrDefault("completed_at")),
            AgentId = NullIfEmpty(fields.GetValueOrDefault("agent_id")),
            LeaseProof = NullIfEmpty(fields.GetValueOrDefault("lease_proof")),
            DiffJson = diff,
            DiffProof = diff is null ? null : NullIfEmpty(fields.GetValueOrDefault("diff_proof")),
        };
    }

    public static AgentResult? FromHash(string taskId, HashEntry[] hash) =>
        FromFields(taskId, hash.ToDictionary(h => h.Name.ToString(), h => (string?)h.Value.ToString(), StringComparer.Ordinal));

    /// <summary>Reads the JSON published on a result channel (values may be strings, or <c>output</c> an object).</summary>
    public static AgentResult? FromPublishedJson(string taskId, string json)
    {
        var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new WireFormatException("the published result is not a JSON object");
            }

            foreach (var field in document.RootElement.EnumerateObject())
            {
                var value = field.Value.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => field.Value.GetString(),
                    _ => field.Value.GetRawText(),
                };
                if (!fields.TryAdd(field.Name, value))
                {
                    throw new WireFormatException($"the published result names '{field.Name}' twice");
                }
            }
        }
        catch (JsonException e)
        {
            throw new WireFormatException($"the published result is not valid JSON: {e.Message}");
        }

        return FromFields(taskId, fields);
    }

    /// <summary>Whether the text is one JSON object, checked without building it.</summary>
    private static bool IsJsonObject(string text)
    {
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var reader = new Utf8JsonReader(bytes.AsSpan(0, Encoding.UTF8.GetBytes(text, bytes)));
            return reader.Read() && reader.TokenType == JsonTokenType.StartObject && reader.TrySkip() && !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
