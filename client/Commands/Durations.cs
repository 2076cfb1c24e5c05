using System.Globalization;
using Orchestrator.Contracts;

namespace Orchestrator.Cli.Commands;

/// <summary>Ages as people type them: <c>7d</c>, <c>12h</c>, <c>30m</c>, <c>90s</c>, or a TimeSpan such as <c>1.12:00:00</c>.</summary>
internal static class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        var value = text.Trim();
        if (value.Length > 1 && char.IsAsciiLetter(value[^1])
            && double.TryParse(value[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount >= 0)
        {
            try
            {
                switch (char.ToLowerInvariant(value[^1]))
                {
                    case 'd': return TimeSpan.FromDays(amount);
                    case 'h': return TimeSpan.FromHours(amount);
                    case 'm': return TimeSpan.FromMinutes(amount);
                    case 's': return TimeSpan.FromSeconds(amount);
                }
            }
            catch (OverflowException)
            {
                // too large for an age: refused below like any other bad value
            }
        }
        else if (TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var span) && span >= TimeSpan.Zero)
        {
            return span;
        }

        throw new InvalidTaskRequestException($"{option} '{text}' is not an age: use e.g. 7d, 12h, 30m, 90s or 1.12:00:00 (not negative).");
    }

    public static string Format(TimeSpan span) => span switch
    {
        { TotalSeconds: < 120 } => $"{span.TotalSeconds:0.#} s",
        { TotalHours: < 2 } => $"{span.TotalMinutes:0.#} min",
        { TotalDays: < 2 } => $"{span.TotalHours:0.#} h",
        _ => $"{span.TotalDays:0.#} days",
    };
}
