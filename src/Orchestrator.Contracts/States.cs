namespace Orchestrator.Contracts;

/// <summary>Priority of a task; within a domain, higher priority is dispatched first.</summary>
[GenerateSerializer, Alias("orchestrator.priority")]
public enum TaskPriority
{
    Low = 0,
    Normal = 1,
    High = 2,
}

/// <summary>Lifecycle of one domain's part of a task.</summary>
[GenerateSerializer, Alias("orchestrator.subtask-state")]
public enum SubtaskState
{
    Pending = 0,
    Dispatched = 1,
    InProgress = 2,
    Completed = 3,
    Failed = 4,
    TimedOut = 5,
    Cancelled = 6,
}

/// <summary>Lifecycle of a submitted (parent) task.</summary>
[GenerateSerializer, Alias("orchestrator.task-state")]
public enum TaskState
{
    Pending = 0,
    InProgress = 1,
    Completed = 2,
    PartiallyCompleted = 3,
    Failed = 4,
    Cancelled = 5,
}

public static class StateNames
{
    public static string ToWire(this SubtaskState state) => state switch
    {
        SubtaskState.Pending => "pending",
        SubtaskState.Dispatched => "dispatched",
        SubtaskState.InProgress => "in_progress",
        SubtaskState.Completed => "completed",
        SubtaskState.Failed => "failed",
        SubtaskState.TimedOut => "timed_out",
        SubtaskState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static string ToWire(this TaskState state) => state switch
    {
        TaskState.Pending => "pending",
        TaskState.InProgress => "in_progress",
        TaskState.Completed => "completed",
        TaskState.PartiallyCompleted => "partially_completed",
        TaskState.Failed => "failed",
        TaskState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static string ToWire(this TaskPriority priority) => priority switch
    {
        TaskPriority.Low => "low",
        TaskPriority.Normal => "normal",
        TaskPriority.High => "high",
        _ => throw new ArgumentOutOfRangeException(nameof(priority), priority, null),
    };

    /// <summary>Parses a priority given by a user (null is normal); throws <see cref="InvalidTaskRequestException"/> naming the bad value.</summary>
    public static TaskPriority ParsePriority(string? text) =>
        text is null ? TaskPriority.Normal
        : TryParsePriority(text, out var priority) ? priority
        : throw new InvalidTaskRequestException($"Invalid priority '{text}': use low, normal or high.");

    public static bool TryParsePriority(string? text, out TaskPriority priority)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "low": priority = TaskPriority.Low; return true;
            case "normal": priority = TaskPriority.Normal; return true;
            case "high": priority = TaskPriority.High; return true;
            default: priority = TaskPriority.Normal; return false;
        }
    }

    public static bool IsFinal(this SubtaskState state) =>
        state is SubtaskState.Completed or SubtaskState.Failed or SubtaskState.TimedOut or SubtaskState.Cancelled;

    public static bool IsFinal(this TaskState state) =>
        state is TaskState.Completed or TaskState.PartiallyCompleted or TaskState.Failed or TaskState.Cancelled;
}
