using System.Buffers.Binary;
using System.Text;

namespace Med2E3.Native.Tokenizers;

/// <summary>Kind of a SentencePiece vocabulary entry (sentencepiece_model.proto, SentencePiece.Type).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>SentencePiece model type (TrainerSpec.ModelType).</summary>
public enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>One vocabulary entry of a SentencePiece model: the piece string, its merge score and its kind.</summary>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The parts of a SentencePiece <c>tokenizer.model</c> (a serialized ModelProto) that encoding and decoding need:
/// the pieces with scores and types, the trainer settings that change encoding (model type, byte fallback, special
/// ids) and the normalizer spec.
/// </summary>
/// <remarks>
/// Read with a small protobuf wire-format reader, so nothing is guessed: field numbers are those of
/// sentencepiece_model.proto. ModelProto: 1 pieces, 2 trainer_spec, 3 normalizer_spec. SentencePiece: 1 piece,
/// 2 score, 3 type. TrainerSpec: 3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback, 40..43
/// unk/bos/eos/pad id. NormalizerSpec: 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
/// 4 remove_extra_whitespaces, 5 escape_whitespaces.
/// </remarks>
public sealed class SentencePieceModel
{
    private SentencePieceModel(string path)
    {
        FilePath = path;
    }

    /// <summary>The file this model was read from.</summary>
    public string FilePath { get; }

    /// <summary>Vocabulary in id order (the id of a piece is its index).</summary>
    public IReadOnlyList<SentencePieceEntry> Pieces { get; private set; } = [];

    public SentencePieceModelType ModelType { get; private set; } = SentencePieceModelType.Unigram;

    public bool ByteFallback { get; private set; }

    public bool TreatWhitespaceAsSuffix { get; private set; }

    public int UnknownId { get; private set; }

    public int BosId { get; private set; } = 1;

    public int EosId { get; private set; } = 2;

    public int PadId { get; private set; } = -1;

    /// <summary>Normalizer rule name, e.g. "identity" (Llama / Phi-3) or "nmt_nfkc".</summary>
    public string NormalizerName { get; private set; } = "";

    /// <summary>Length of the compiled character map; 0 means no character rewriting at all.</summary>
    public int PrecompiledCharsMapLength { get; private set; }

    /// <summary>Prefix the text with "▁" so that the first word looks like every other word.</summary>
    public bool AddDummyPrefix { get; private set; } = true;

    /// <summary>Strip leading and trailing spaces and collapse runs of spaces.</summary>
    public bool RemoveExtraWhitespaces { get; private set; } = true;

    /// <summary>Replace ' ' by "▁" (U+2581).</summary>
    public bool EscapeWhitespaces { get; private set; } = true;

    /// <summary>Largest model file read (Phi-3's tokenizer.model is 500 kB).</summary>
    public const long MaxFileBytes = 256L << 20;

    public static SentencePieceModel Load(string path)
    {
        byte[] bytes = Formats.Files.FileBytes.Read(path, MaxFileBytes, "a SentencePiece model",
            problem => new TokenizerFileException(path, problem));

        var model = new SentencePieceModel(path);
        try
        {
            model.ParseModel(bytes);
        }
        catch (FormatException e)
        {
            throw new TokenizerFileException(path, $"not a SentencePiece model: {e.Message}", e);
        }

        if (model.Pieces.Count == 0)
        {
            throw new TokenizerFileException(path, "not a SentencePiece model: it holds no pieces");
        }

        return model;
    }

    private void ParseModel(ReadOnlySpan<byte> data)
    {
        var pieces = new List<SentencePieceEntry>();
        var reader = new ProtoReader(data);
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.LengthDelimited:
                    pieces.Add(ParsePiece(reader.ReadBytes()));
                    break;
                case 2 when wire == ProtoReader.LengthDelimited:
                    ParseTrainerSpec(reader.ReadBytes());
                    break;
                case 3 when wire == ProtoReader.LengthDelimited:
                    ParseNormalizerSpec(reader.ReadBytes());
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        Pieces = pieces;
    }

    private static SentencePieceEntry ParsePiece(ReadOnlySpan<byte> data)
    {
        string piece = "";
        float score = 0f;
        var type = SentencePieceType.Normal;
        var reader = new ProtoReader(data);
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.LengthDelimited:
                    piece = Encoding.UTF8.GetString(reader.ReadBytes());
                    break;
                case 2 when wire == ProtoReader.Fixed32:
                    score = reader.ReadFloat();
                    break;
                case 3 when wire == ProtoReader.Varint:
                    type = (SentencePieceType)(int)reader.ReadVarint();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        return new SentencePieceEntry(piece, score, type);
    }

    private void ParseTrainerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data);
        while (reader.Next(out int field, out int wire))
        {
            if (wire != ProtoReader.Varint)
            {
                reader.Skip(wire);
                continue;
            }

            // int32 fields are sign-extended to 64 bits on the wire, so the low 32 bits are the value.
            long v = (long)reader.ReadVarint();
            switch (field)
            {
                case 3: ModelType = (SentencePieceModelType)(int)v; break;
                case 24: TreatWhitespaceAsSuffix = v != 0; break;
                case 35: ByteFallback = v != 0; break;
                case 40: UnknownId = (int)v; break;
                case 41: BosId = (int)v; break;
                case 42: EosId = (int)v; break;
                case 43: PadId = (int)v; break;
            }
        }
    }

    private void ParseNormalizerSpec(ReadOnlySpan<byte> data)
    {
        var reader = new ProtoReader(data);
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.LengthDelimited:
                    NormalizerName = Encoding.UTF8.GetString(reader.ReadBytes());
                    break;
                case 2 when wire == ProtoReader.LengthDelimited:
                    PrecompiledCharsMapLength = reader.ReadBytes().Length;
                    break;
                case 3 when wire == ProtoReader.Varint:
                    AddDummyPrefix = reader.ReadVarint() != 0;
                    break;
                case 4 when wire == ProtoReader.Varint:
                    RemoveExtraWhitespaces = reader.ReadVarint() != 0;
                    break;
                case 5 when wire == ProtoReader.Varint:
                    EscapeWhitespaces = reader.ReadVarint() != 0;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
    }

    /// <summary>Minimal protobuf wire-format reader (varint, fixed32, fixed64, length-delimited).</summary>
    private ref struct ProtoReader
    {
        public const int Varint = 0;
        public const int Fixed64 = 1;
        public const int LengthDelimited = 2;
        public const int Fixed32 = 5;

        private readonly ReadOnlySpan<byte> _data;
        private int _pos;

        public ProtoReader(ReadOnlySpan<byte> data)
        {
            _data = data;
            _pos = 0;
        }

        public bool Next(out int field, out int wire)
        {
            if (_pos >= _data.Length)
            {
                field = 0;
                wire = 0;
                return false;
            }

            ulong key = ReadVarint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            if (field == 0)
            {
                throw new FormatException($"field number 0 at byte {_pos}");
            }

            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= _data.Length)
                {
                    throw new FormatException("truncated varint");
                }

                byte b = _data[_pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }

            throw new FormatException($"varint longer than 10 bytes at byte {_pos}");
        }

        public float ReadFloat()
        {
            return BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
        }

        public ReadOnlySpan<byte> ReadBytes()
        {
            ulong n = ReadVarint();
            if (n > (ulong)(_data.Length - _pos))
            {
                throw new FormatException($"length {n} runs past the end at byte {_pos}");
            }

            return Take((int)n);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case Varint: ReadVarint(); break;
                case Fixed64: Take(8); break;
                case LengthDelimited: ReadBytes(); break;
                case Fixed32: Take(4); break;
                default: throw new FormatException($"unsupported wire type {wire} at byte {_pos}");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n > _data.Length - _pos)
            {
                throw new FormatException($"{n} bytes run past the end at byte {_pos}");
            }

            var s = _data.Slice(_pos, n);
            _pos += n;
            return s;
        }
    }
}
