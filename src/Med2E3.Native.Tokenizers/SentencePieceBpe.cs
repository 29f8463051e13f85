using System.Text;

namespace Med2E3.Native.Tokenizers;

/// <summary>
/// SentencePiece's BPE encoding of already-normalized text (bpe_model.cc, <c>Model::Encode</c>, no dropout), with
/// its byte fallback and its tie rule: of two merges with the same score, the leftmost is made first.
/// </summary>
/// <remarks>
/// The text is cut into symbols: a user-defined piece where one starts (the longest; it is never merged further),
/// else one character. Every pair of neighbouring symbols whose concatenation is a piece (normal, user-defined or
/// unused) goes into a priority queue ordered by that piece's score, highest first, then by position, leftmost
/// first. The loop takes the best pair, merges it if both symbols are still as they were when the pair was queued,
/// and queues the two new pairs the merged symbol forms with its neighbours. A final symbol that is an unused piece
/// is split back into the two symbols it was made from. A final symbol that is no piece becomes its UTF-8 bytes
/// (<c>&lt;0xNN&gt;</c> pieces) with byte fallback, else the unknown id (consecutive unknown symbols give one).
/// The queue makes an input of n characters cost O(n log n), whatever its length.
/// </remarks>
internal sealed class SentencePieceBpe
{
    private readonly SentencePieceModel _model;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeable;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _any;
    private readonly int[] _byteIds = new int[256];
    private readonly string[] _userDefinedLongestFirst;
    private readonly int _maxPieceLength;

    public SentencePieceBpe(SentencePieceModel model)
    {
        _model = model;

        // SentencePiece's two maps: merges may form normal, user-defined and unused pieces; a finished symbol is
        // looked up among all pieces (a lone character may also be a control or byte piece's text).
        var mergeable = new Dictionary<string, int>(StringComparer.Ordinal);
        var any = new Dictionary<string, int>(StringComparer.Ordinal);
        Array.Fill(_byteIds, -1);
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            var p = model.Pieces[i];
            if (p.Type is SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused)
            {
                mergeable.TryAdd(p.Piece, i);
                _maxPieceLength = Math.Max(_maxPieceLength, p.Piece.Length);
            }
            else if (p.Type == SentencePieceType.Byte && TryParseByte(p.Piece, out byte b))
            {
                _byteIds[b] = i;
            }

            any.TryAdd(p.Piece, i);
        }

        _mergeable = mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        _any = any.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefinedLongestFirst =
        [
            .. model.Pieces.Where(p => p.Type == SentencePieceType.UserDefined).Select(p => p.Piece)
                .OrderByDescending(p => p.Length).ThenBy(p => p, StringComparer.Ordinal),
        ];
    }

    /// <summary>Appends the ids of <paramref name="text"/> (normalized: "▁" for spaces, prefix decided) to <paramref name="ids"/>.</summary>
    public void Encode(string text, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }

        // Symbols as spans of the text, linked in order; a merged-away symbol has length 0.
        var start = new List<int>(text.Length);
        var length = new List<int>(text.Length);
        var frozen = new List<bool>(text.Length);
        for (int pos = 0; pos < text.Length;)
        {
            int n = UserDefinedAt(text, pos);
            frozen.Add(n > 0);
            if (n == 0)
            {
                n = char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length && char.IsLowSurrogate(text[pos + 1])
                    ? 2
                    : 1;
            }

            start.Add(pos);
            length.Add(n);
            pos += n;
        }

        int count = start.Count;
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        var len = length.ToArray();
        var queue = new PriorityQueue<Pair, (float Score, int Left)>(count, PairOrder.Instance);
        Dictionary<string, (int Left, int Right)>? unusedMerges = null;

        void Offer(int left, int right)
        {
            if (left < 0 || right < 0 || frozen[left] || frozen[right])
            {
                return;
            }

            int size = len[left] + len[right];
            if (size > _maxPieceLength || !_mergeable.TryGetValue(text.AsSpan(start[left], size), out int id))
            {
                return;
            }

            queue.Enqueue(new Pair(left, right, size), (_model.Pieces[id].Score, left));
            if (_model.Pieces[id].Type == SentencePieceType.Unused)
            {
                // Remembered so that an unused piece left at the end can be split again (the last merge wins).
                unusedMerges ??= new Dictionary<string, (int, int)>(StringComparer.Ordinal);
                unusedMerges[text.Substring(start[left], size)] = (len[left], len[right]);
            }
        }

        for (int i = 0; i + 1 < count; i++)
        {
            Offer(i, i + 1);
        }

        while (queue.TryDequeue(out var top, out _))
        {
            // A pair is stale once either symbol was merged into another or grew.
            if (len[top.Left] == 0 || len[top.Right] == 0 || len[top.Left] + len[top.Right] != top.Size)
            {
                continue;
            }

            len[top.Left] = top.Size;
            len[top.Right] = 0;
            next[top.Left] = next[top.Right];
            if (next[top.Right] >= 0)
            {
                prev[next[top.Right]] = top.Left;
            }

            Offer(prev[top.Left], top.Left);
            Offer(top.Left, next[top.Left]);
        }

        bool previousUnknown = false;
        for (int i = 0; i >= 0; i = next[i])
        {
            Emit(text, start[i], len[i], unusedMerges, ids, ref previousUnknown);
        }
    }

    private void Emit(string text, int start, int length, Dictionary<string, (int Left, int Right)>? unusedMerges,
        List<int> ids, ref bool previousUnknown)
    {
        var piece = text.AsSpan(start, length);
        int id = _any.TryGetValue(piece, out int found) ? found : _model.UnknownId;
        if (_model.Pieces[id].Type == SentencePieceType.Unused && unusedMerges is not null
            && unusedMerges.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(piece, out var split))
        {
            Emit(text, start, split.Left, unusedMerges, ids, ref previousUnknown);
            Emit(text, start + split.Left, split.Right, unusedMerges, ids, ref previousUnknown);
            return;
        }

        if (id != _model.UnknownId)
        {
            ids.Add(id);
            previousUnknown = false;
        }
        else if (_model.ByteFallback)
        {
            // A lone surrogate has no UTF-8 form; the encoder writes U+FFFD's bytes for it.
            foreach (byte b in Encoding.UTF8.GetBytes(piece.ToString()))
            {
                ids.Add(_byteIds[b] >= 0 ? _byteIds[b] : _model.UnknownId);
            }
        }
        else if (!previousUnknown)
        {
            ids.Add(id);
            previousUnknown = true;
        }
    }

    private int UserDefinedAt(string text, int pos)
    {
        foreach (string p in _userDefinedLongestFirst)
        {
            if (text.AsSpan(pos).StartsWith(p, StringComparison.Ordinal))
            {
                return p.Length;
            }
        }

        return 0;
    }

    internal static bool TryParseByte(string piece, out byte b)
    {
        b = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier,
                System.Globalization.CultureInfo.InvariantCulture, out b);
    }

    private readonly record struct Pair(int Left, int Right, int Size);

    // Highest score first; on equal scores the leftmost pair (SentencePiece's SymbolPairComparator).
    private sealed class PairOrder : IComparer<(float Score, int Left)>
    {
        public static readonly PairOrder Instance = new();

        public int Compare((float Score, int Left) a, (float Score, int Left) b)
        {
            int c = b.Score.CompareTo(a.Score);
            return c != 0 ? c : a.Left.CompareTo(b.Left);
        }
    }
}
