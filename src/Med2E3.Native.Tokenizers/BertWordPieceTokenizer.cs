using System.Globalization;
using System.Text;

namespace Med2E3.Native.Tokenizers;

/// <summary>A BERT input row: token ids padded to a fixed length and the attention mask (1 real, 0 padding).</summary>
public readonly record struct BertEncoding(int[] Ids, int[] Mask);

/// <summary>
/// BERT WordPiece tokenizer for the TG-IS question (spec §3.1): transformers' slow <c>BertTokenizer</c>
/// (uncased BasicTokenizer + WordPiece), which the reference uses.
/// </summary>
/// <remarks>
/// Per input: the special tokens ([UNK] [SEP] [CLS] [PAD] [MASK], when in the vocabulary) are cut out of the raw text
/// whole; every other piece is cleaned (NUL, U+FFFD and control characters dropped, whitespace → ' '), CJK ideographs
/// are surrounded by spaces, accents are stripped (NFD minus Mn) and characters lower-cased (when uncased), the text
/// is split on whitespace and every punctuation character becomes a word of its own. Each word is covered greedily
/// by the longest vocabulary entries ("##" marks a continuation); a word longer than 100 code points or one that
/// cannot be covered becomes [UNK]. Lower-casing is per character (no final-sigma rule), as transformers' slow
/// tokenizer lower-cases the text character by character before its BasicTokenizer. Hugging Face tokenizers' fast
/// BertTokenizer differs on purpose-built inputs only: it keeps unassigned code points (the slow one, and this
/// one, drop every "C…" category) and has older Unicode tables; docs/tokenizers.md lists each kind. Character
/// categories are those of the .NET runtime (Unicode 16.0 on .NET 10).
/// </remarks>
public sealed class BertWordPieceTokenizer
{
    /// <summary>Words with more code points than this become [UNK] (transformers' max_input_chars_per_word).</summary>
    public const int MaxInputCharsPerWord = 100;

    private const string ContinuationPrefix = "##";

    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _specialTokens;

    private BertWordPieceTokenizer(Dictionary<string, int> vocab, bool lowerCase, string path)
    {
        _vocab = vocab;
        LowerCase = lowerCase;
        int Require(string token) => vocab.TryGetValue(token, out int id)
            ? id
            : throw new TokenizerFileException(path, $"vocabulary has no {token}");
        UnknownTokenId = Require("[UNK]");
        ClsTokenId = Require("[CLS]");
        SepTokenId = Require("[SEP]");
        PadTokenId = Require("[PAD]");
        MaskTokenId = vocab.TryGetValue("[MASK]", out int mask) ? mask : null;
        _specialTokens = [.. new[] { "[UNK]", "[SEP]", "[CLS]", "[PAD]", "[MASK]" }.Where(vocab.ContainsKey)];
        VocabSize = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
    }

    public bool LowerCase { get; }

    public int UnknownTokenId { get; }

    public int ClsTokenId { get; }

    public int SepTokenId { get; }

    public int PadTokenId { get; }

    public int? MaskTokenId { get; }

    /// <summary>One more than the largest id in the vocabulary file (its line count for a well-formed file).</summary>
    public int VocabSize { get; }

    /// <summary>Largest vocab.txt read (bert-base-uncased's is 232 kB).</summary>
    public const long MaxVocabBytes = 64L << 20;

    /// <summary>Loads <c>vocab.txt</c>: one token per line, the id is the line number (0-based).</summary>
    public static BertWordPieceTokenizer Load(string vocabPath, bool lowerCase = true)
    {
        byte[] bytes = Formats.Files.FileBytes.Read(vocabPath, MaxVocabBytes, "a vocabulary",
            problem => new TokenizerFileException(vocabPath, problem));
        // Split as File.ReadAllLines does (CR, LF or CRLF; a byte-order mark dropped).
        var lines = new List<string>();
        using (var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true))
        {
            while (reader.ReadLine() is { } line)
            {
                lines.Add(line);
            }
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Count; i++)
        {
            // A later duplicate wins, as in the reference (dictionary assignment).
            vocab[lines[i]] = i;
        }

        return new BertWordPieceTokenizer(vocab, lowerCase, vocabPath);
    }

    /// <summary>The id of a vocabulary token, or null.</summary>
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>Word pieces of <paramref name="text"/> (no [CLS]/[SEP], no truncation).</summary>
    public List<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<string>();
        foreach (var (segment, isSpecial) in SplitSpecialTokens(text))
        {
            if (isSpecial)
            {
                pieces.Add(segment);
                continue;
            }

            foreach (var word in BasicTokenize(segment))
            {
                WordPiece(word, pieces);
            }
        }

        return pieces;
    }

    /// <summary>Ids of the word pieces of <paramref name="text"/> (no [CLS]/[SEP], no truncation).</summary>
    public int[] EncodeIds(string text) => [.. Tokenize(text).Select(p => _vocab[p])];

    /// <summary>
    /// [CLS] + pieces + [SEP], the pieces truncated to <paramref name="maxLength"/> − 2, then [PAD] up to
    /// <paramref name="maxLength"/> (the reference call: max_length, truncation=True, padding="max_length").
    /// </summary>
    public BertEncoding Encode(string text, int maxLength = 512)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        int[] pieces = EncodeIds(text);
        int n = Math.Min(pieces.Length, maxLength - 2);
        var ids = new int[maxLength];
        var mask = new int[maxLength];
        Array.Fill(ids, PadTokenId);
        ids[0] = ClsTokenId;
        Array.Copy(pieces, 0, ids, 1, n);
        ids[n + 1] = SepTokenId;
        Array.Fill(mask, 1, 0, n + 2);
        return new BertEncoding(ids, mask);
    }

    /// <summary>
    /// The BasicTokenizer: clean, isolate CJK ideographs, strip accents and lower-case (uncased), split on
    /// whitespace, split off punctuation.
    /// </summary>
    public List<string> BasicTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (Rune r in text.EnumerateRunes())
        {
            if (r.Value == 0 || r.Value == 0xFFFD || IsControl(r))
            {
                continue;
            }

            if (IsWhitespace(r))
            {
                sb.Append(' ');
            }
            else if (IsCjk(r.Value))
            {
                sb.Append(' ').Append(r.ToString()).Append(' ');
            }
            else
            {
                sb.Append(r.ToString());
            }
        }

        string cleaned = sb.ToString();
        if (LowerCase)
        {
            cleaned = Lower(UnicodeAccents.Strip(cleaned));
        }

        var words = new List<string>();
        var word = new StringBuilder();
        void EndWord()
        {
            if (word.Length > 0)
            {
                words.Add(word.ToString());
                word.Clear();
            }
        }

        foreach (Rune r in cleaned.EnumerateRunes())
        {
            if (IsWhitespace(r))
            {
                EndWord();
            }
            else if (IsPunctuation(r))
            {
                EndWord();
                words.Add(r.ToString());
            }
            else
            {
                word.Append(r.ToString());
            }
        }

        EndWord();
        return words;
    }

    // Greedy longest-match-first over code points; a word that cannot be covered is one [UNK].
    private void WordPiece(string word, List<string> output)
    {
        // Code point boundaries, so that "longest" and the 100 limit count characters, not UTF-16 units.
        var bounds = new List<int> { 0 };
        foreach (Rune r in word.EnumerateRunes())
        {
            bounds.Add(bounds[^1] + r.Utf16SequenceLength);
        }

        int chars = bounds.Count - 1;
        if (chars > MaxInputCharsPerWord)
        {
            output.Add("[UNK]");
            return;
        }

        var pieces = new List<string>();
        int start = 0;
        while (start < chars)
        {
            string? found = null;
            int end = chars;
            for (; end > start; end--)
            {
                string sub = word[bounds[start]..bounds[end]];
                if (start > 0)
                {
                    sub = ContinuationPrefix + sub;
                }

                if (_vocab.ContainsKey(sub))
                {
                    found = sub;
                    break;
                }
            }

            if (found is null)
            {
                output.Add("[UNK]");
                return;
            }

            pieces.Add(found);
            start = end;
        }

        output.AddRange(pieces);
    }

    private List<(string Text, bool IsSpecial)> SplitSpecialTokens(string text) =>
        [.. LiteralSplit.Split(text, _specialTokens).Where(s => s.IsLiteral || s.Text.Length > 0)];

    private static string Lower(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (Rune r in s.EnumerateRunes())
        {
            sb.Append(Rune.ToLowerInvariant(r).ToString());
        }

        return sb.ToString();
    }

    // Tab, newline and carriage return are whitespace here, not control characters.
    private static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r')
        {
            return false;
        }

        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    private static bool IsWhitespace(Rune r) =>
        r.Value is ' ' or '\t' or '\n' or '\r'
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator;

    // ASCII symbols count as punctuation even where Unicode calls them symbols ("$", "^", "`", ...).
    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126)
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
            or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    // The CJK Unified Ideographs blocks and their extensions / compatibility blocks (not Hangul, kana, ...).
    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
            or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF
            or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
