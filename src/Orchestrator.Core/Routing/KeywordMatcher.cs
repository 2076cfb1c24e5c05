namespace Orchestrator.Core.Routing;

/// <summary>
/// Case-insensitive keyword matching on whole words. A keyword matches its simple inflections
/// (deploy: deploys, deployed, deploying, deployment; query: queries; style: styled, styling),
/// multi-word keywords match their words in sequence ("github actions", "docker-compose"),
/// and tokens such as "k8s" and "a11y" match as written.
/// </summary>
public sealed class KeywordMatcher
{
    // "er" is left out on purpose: it turns "form" into "former" and "test" into "tester".
    private static readonly string[] Suffixes = ["s", "es", "ed", "ing", "ment", "ments"];

    private readonly string[][] _keywords;

    public KeywordMatcher(IEnumerable<string> keywords)
    {
        _keywords = keywords
            .Select(Tokenize)
            .Where(words => words.Length > 0)
            .ToArray();
    }

    public bool Matches(IReadOnlyList<string> tokens) => _keywords.Any(keyword => ContainsSequence(tokens, keyword));

    public bool Matches(string text) => Matches(Tokenize(text));

    /// <summary>Lower-case words: runs of letters and digits.</summary>
    public static string[] Tokenize(string text)
    {
        var tokens = new List<string>();
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var isWordChar = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (isWordChar && start < 0)
            {
                start = i;
            }
            else if (!isWordChar && start >= 0)
            {
                tokens.Add(text[start..i].ToLowerInvariant());
                start = -1;
            }
        }

        return tokens.ToArray();
    }

    private static bool ContainsSequence(IReadOnlyList<string> tokens, string[] keyword)
    {
        for (var i = 0; i + keyword.Length <= tokens.Count; i++)
        {
            var all = true;
            for (var k = 0; k < keyword.Length && all; k++)
            {
                all = IsInflectionOf(tokens[i + k], keyword[k]);
            }

            if (all)
            {
                return true;
            }
        }

        return false;
    }

    internal static bool IsInflectionOf(string token, string word)
    {
        if (token == word)
        {
            return true;
        }

        if (token.Length <= word.Length || !token.StartsWith(word, StringComparison.Ordinal))
        {
            // Inflections that change the stem's last letter: style → styling, query → queries. Compared in place:
            // routing runs on every submit, over every keyword.
            var stem = word.AsSpan(0, word.Length - 1);
            var rest = token.Length > stem.Length && token.AsSpan().StartsWith(stem, StringComparison.Ordinal) ? token.AsSpan(stem.Length) : default;
            return rest.Length > 0
                && ((word.EndsWith('e') && rest.SequenceEqual("ing"))
                    || (word.EndsWith('y') && (rest.SequenceEqual("ies") || rest.SequenceEqual("ied"))));
        }

        var suffix = token.AsSpan(word.Length);
        if (word.EndsWith('e') && suffix.SequenceEqual("d"))
        {
            return true; // style → styled
        }

        foreach (var candidate in Suffixes)
        {
            if (suffix.SequenceEqual(candidate))
            {
                return true;
            }
        }

        return false;
    }
}
