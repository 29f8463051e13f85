using System.IO.Compression;
using System.Text;
using Med2E3.Native.Cli;
using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tokenizers;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Cli;
using Med2E3.Native.Tests.Input;

namespace Med2E3.Native.Tests.Fuzz;

/// <summary>
/// Every reader of files from strangers, as a <see cref="FuzzTarget"/>: the PyTorch zip and its pickle, safetensors and
/// its shard index, the four configs (through <see cref="Med2E3Checkpoint.Open"/>) and a whole model load, the
/// tokenizer files, the BERT vocabulary, .npy, NIfTI (1 and 2), gzip, and the three M3D JSON files.
/// </summary>
internal static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        Npy(), Nifti(), NiftiGz(), Gzip(), Dicom(),
        TorchZip(), TorchPickle(), Safetensors(), SafetensorsHeader(), SafetensorsIndex(),
        Config("config-args", "args/config.json"), Config("config-llm", "llm/config.json"),
        Config("config-vision2d", "vision2d_model/config.json"), Config("config-vision3d", "vision3d_model/config.json"),
        ModelLoad(),
        Tokenizer("tokenizer-json", "tokenizer.json", Mutations.Json),
        Tokenizer("tokenizer-config", "tokenizer_config.json", Mutations.Json),
        Tokenizer("tokenizer-model", "tokenizer.model", (r, b) => Mutations.Binary(r, b, 256)),
        SpecialTokensMap(), AddedTokens(), BertVocab(),
        M3D("m3d-data", M3DDataSeed, p => M3DDataset.Load(p)),
        M3D("m3d-answers", M3DAnswersSeed, p => M3DDataset.LoadAnswers(p)),
        M3D("m3d-outputs", M3DOutputsSeed, p => M3DDataset.LoadOutputs(p)),
        GoldenFixtureJson(),
    ];

    public static FuzzTarget Get(string name) => All.Single(t => t.Name == name);

    static string Fixture => CliRunner.FixtureDir;

    // ------------------------------------------------------------------------------------------------ volumes

    /// <summary>Reads a volume as the commands do, then preprocesses it to the tiny model's input size.</summary>
    static void ReadVolume(string path)
    {
        var volume = VolumeReader.Read(path);
        Preprocess.Run(volume, PreprocessOptions.ForImageSize([8, 32, 32]));
    }

    static double[] Values(int n, int seed = 5)
    {
        var r = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => Math.Round(r.NextDouble() * 200 - 50))];
    }

    static byte[][] NpySeeds =>
    [
        NpyBuilder.For(Values(4 * 8 * 8), "<f4", "(4, 8, 8)").Build(),
        NpyBuilder.For(Values(4 * 8 * 8).Select(v => Math.Abs(v) % 256).ToArray(), "|u1", "(1, 4, 8, 8)").Build(),
        NpyBuilder.For(Values(3 * 5 * 7), ">f8", "(3, 5, 7)", fortran: true).Build(),
        NpyBuilder.For(Values(2 * 6 * 6), "<i2", "(2, 6, 6)", major: 2).Build(),
    ];

    static byte[][] NiftiSeeds
    {
        get
        {
            var rotated = NiftiBuilder.Float32(Values(6 * 5 * 4), 6, 5, 4);
            rotated.SformCode = 1;
            rotated.Srow = new double[,] { { 0, 0, 2, 0 }, { -1, 0, 0, 0 }, { 0, 1.5, 0, 0 } };
            var nifti2 = NiftiBuilder.Float32(Values(4 * 4 * 3), 4, 4, 3, version: 2, bigEndian: true);
            nifti2.QformCode = 1;
            nifti2.Quatern = [0, 0, 1];
            var int16 = NiftiBuilder.Float32(Values(5 * 5 * 5), 5, 5, 5);
            int16.Datatype = 4;
            int16.Bitpix = 16;
            int16.Data = Encode.Values(Values(5 * 5 * 5), "i2", false);
            int16.SclSlope = 2;
            int16.SclInter = -1024;
            int16.ExtraBytesBeforeData = 16;
            return [rotated.Build(), nifti2.Build(), int16.Build()];
        }
    }

    static FuzzTarget Npy() => new()
    {
        Name = "npy", Seeds = NpySeeds, Mutate = (r, b) => Mutations.Binary(r, b, 128), InputPath = "volume.npy",
        Read = (_, p) => ReadVolume(p), RefusedExitCode = ExitCodes.BadInput, Iterations = 1200,
    };

    static FuzzTarget Nifti() => new()
    {
        Name = "nifti", Seeds = NiftiSeeds, Mutate = (r, b) => Mutations.Binary(r, b, 544), InputPath = "volume.nii",
        Read = (_, p) => ReadVolume(p), RefusedExitCode = ExitCodes.BadInput, Iterations = 1200,
    };

    /// <summary>NIfTI mutated before compression, so the gzip layer is valid and the reader sees the damage.</summary>
    static FuzzTarget NiftiGz() => new()
    {
        Name = "nifti-gz", Seeds = NiftiSeeds, Mutate = (r, b) => Mutations.Binary(r, b, 544), InputPath = "volume.nii.gz",
        Encode = Input.Encode.Gzip, Read = (_, p) => ReadVolume(p), RefusedExitCode = ExitCodes.BadInput, Iterations = 800,
    };

    /// <summary>The compressed bytes themselves mutated (header, deflate stream, trailer).</summary>
    static FuzzTarget Gzip() => new()
    {
        Name = "gz", Seeds = [.. NiftiSeeds.Concat(NpySeeds).Select(Input.Encode.Gzip)],
        Mutate = (r, b) => Mutations.Binary(r, b, 24), InputPath = "volume.gz",
        Read = (_, p) => ReadVolume(p), RefusedExitCode = ExitCodes.BadInput, Iterations = 800,
    };

    /// <summary>
    /// Single DICOM files in every transfer syntax the reader decodes (Explicit and Implicit VR LE, Explicit VR BE,
    /// Deflated, RLE, JPEG Lossless with and without restart markers, enhanced multi-frame), mutated anywhere.
    /// </summary>
    static FuzzTarget Dicom() => new()
    {
        Name = "dicom",
        Seeds = [.. new[]
        {
            "series/explicit-le-int16/IM0000", "series/implicit-le-uint12/IM0000", "series/explicit-be-int16/IM0000",
            "series/deflated-int16/IM0000", "series/rle-int16/IM0000", "series/jpeg-sv1-int16/IM0000",
            "series/jpeg-sv4-restart/IM0000", "pydicom/CT_small.dcm", "pydicom/MR_small_RLE.dcm",
        }.Select(f => File.ReadAllBytes(Path.Combine(CliRunner.RepoRoot, "tests", "data", "dicom", f)))],
        Mutate = (r, b) => Mutations.Binary(r, b, 1024), InputPath = "image.dcm",
        Read = (_, p) => ReadVolume(p), RefusedExitCode = ExitCodes.BadInput, Iterations = 800,
    };

    // ------------------------------------------------------------------------------------------------ weights

    static IReadOnlyList<WeightTensor> SeedTensors =>
    [
        WeightTensor.FromFloat32("model.embed.weight", [3, 4], [.. Enumerable.Range(0, 12).Select(i => i * 0.5f)]),
        WeightTensor.FromFloat32("model.norm.weight", [4], [1, 2, 3, 4], StorageDType.BF16),
        WeightTensor.FromFloat32("scalar", [], [7], StorageDType.F16),
        WeightTensor.FromInt64("steps", [2], [5, 6]),
    ];

    static byte[] Written(Action<string> write)
    {
        string path = Path.Combine(Path.GetTempPath(), "med2e3-fuzz-seed-" + Guid.NewGuid().ToString("N"));
        try
        {
            write(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    static byte[] TorchSeed => Written(p => TorchCheckpointWriter.Write(p, SeedTensors, "archive"));

    static byte[] SafetensorsSeed => Written(p => SafetensorsWriter.Write(p, SeedTensors));

    /// <summary>Every tensor of the state dict, read as a program would (floats converted, others as bytes).</summary>
    static void ReadAll(StateDict weights)
    {
        foreach (WeightTensor t in weights.Tensors)
        {
            if (t.DType.IsFloatingPoint()) t.ToFloat32();
            else _ = t.Data;
        }
    }

    /// <summary>The same entries deflated (torch.save writes stored zips; other writers compress).</summary>
    static byte[] Deflated(byte[] torchZip)
    {
        using var source = new ZipArchive(new MemoryStream(torchZip), ZipArchiveMode.Read);
        var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var to = zip.CreateEntry(entry.FullName, CompressionLevel.Optimal).Open();
                entry.Open().CopyTo(to);
            }
        }
        return output.ToArray();
    }

    static FuzzTarget TorchZip() => new()
    {
        Name = "torch-zip", Seeds = [TorchSeed, Deflated(TorchSeed)], Mutate = (r, b) => Mutations.Binary(r, b),
        InputPath = "pytorch_model.bin",
        Read = (_, p) => ReadAll(TorchCheckpointReader.Read(p)), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 1200,
    };

    /// <summary>The zip entries of a torch.save file, with <c>data.pkl</c> replaced (CRC recomputed by the zip writer).</summary>
    static byte[] WithPickle(byte[] torchZip, byte[] pickle)
    {
        using var source = new ZipArchive(new MemoryStream(torchZip), ZipArchiveMode.Read);
        var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                var copy = zip.CreateEntry(entry.FullName, CompressionLevel.NoCompression);
                using var to = copy.Open();
                if (entry.FullName.EndsWith("data.pkl", StringComparison.Ordinal)) to.Write(pickle);
                else entry.Open().CopyTo(to);
            }
        }
        return output.ToArray();
    }

    static byte[] PickleOf(byte[] torchZip)
    {
        using var zip = new ZipArchive(new MemoryStream(torchZip), ZipArchiveMode.Read);
        var ms = new MemoryStream();
        zip.Entries.Single(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)).Open().CopyTo(ms);
        return ms.ToArray();
    }

    static FuzzTarget TorchPickle()
    {
        byte[] zip = TorchSeed;
        return new FuzzTarget
        {
            Name = "torch-pickle", Seeds = [PickleOf(zip)], Mutate = (r, b) => Mutations.Binary(r, b),
            InputPath = "pytorch_model.bin", Encode = pickle => WithPickle(zip, pickle),
            Read = (_, p) => ReadAll(TorchCheckpointReader.Read(p)), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 1200,
        };
    }

    static FuzzTarget Safetensors() => new()
    {
        Name = "safetensors", Seeds = [SafetensorsSeed], Mutate = (r, b) => Mutations.Binary(r, b, 64),
        InputPath = "model.safetensors", Read = (_, p) => ReadAll(SafetensorsReader.Read(p)),
        RefusedExitCode = ExitCodes.Checkpoint, Iterations = 1000,
    };

    /// <summary>The JSON header of a safetensors file mutated as JSON; the length prefix follows it, the data stays.</summary>
    static FuzzTarget SafetensorsHeader()
    {
        byte[] file = SafetensorsSeed;
        int n = (int)BitConverter.ToInt64(file, 0);
        byte[] header = file[8..(8 + n)];
        byte[] data = file[(8 + n)..];
        return new FuzzTarget
        {
            Name = "safetensors-header", Seeds = [header], Mutate = Mutations.Json, InputPath = "model.safetensors",
            Encode = h => [.. BitConverter.GetBytes((long)h.Length), .. h, .. data],
            Read = (_, p) => ReadAll(SafetensorsReader.Read(p)), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 1000,
        };
    }

    static FuzzTarget SafetensorsIndex()
    {
        string first = "model-00001-of-00002.safetensors", second = "model-00002-of-00002.safetensors";
        IReadOnlyList<WeightTensor> tensors = SeedTensors;
        string index = "{\"metadata\": {\"total_size\": 40}, \"weight_map\": {" +
                       $"\"{tensors[0].Name}\": \"{first}\", \"{tensors[1].Name}\": \"{first}\", " +
                       $"\"{tensors[2].Name}\": \"{second}\", \"{tensors[3].Name}\": \"{second}\"}}}}";
        return new FuzzTarget
        {
            Name = "safetensors-index", Seeds = [Encoding.UTF8.GetBytes(index)], Mutate = Mutations.Json,
            InputPath = "model.safetensors.index.json",
            Setup = dir =>
            {
                SafetensorsWriter.Write(Path.Combine(dir, first), tensors.Take(2));
                SafetensorsWriter.Write(Path.Combine(dir, second), tensors.Skip(2));
            },
            Read = (_, p) => ReadAll(WeightFiles.Read(p)), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 800,
        };
    }

    // ------------------------------------------------------------------------------------------------ checkpoint

    /// <summary>Copies the tiny checkpoint (and the BERT vocab beside it) into the sandbox.</summary>
    static void CopyCheckpoint(string dir)
    {
        Copy(Path.Combine(Fixture, "checkpoint"), Path.Combine(dir, "checkpoint"));
        Copy(Path.Combine(Fixture, "text_tokenizer"), Path.Combine(dir, "text_tokenizer"));
    }

    static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from)) Copy(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>One config of the checkpoint mutated as JSON, read by <see cref="Med2E3Checkpoint.Open"/> (every header and shape checked).</summary>
    static FuzzTarget Config(string name, string relative) => new()
    {
        Name = name, Seeds = [File.ReadAllBytes(Path.Combine(Fixture, "checkpoint", relative))], Mutate = Mutations.Json,
        InputPath = Path.Combine("checkpoint", relative), Setup = CopyCheckpoint,
        Read = (dir, _) => Med2E3Checkpoint.Open(Path.Combine(dir, "checkpoint")), RefusedExitCode = ExitCodes.Checkpoint,
        Iterations = 800,
    };

    static readonly Lazy<(float[] Values, int[] Shape)> TinyVolume = new(() =>
    {
        var fx = Med2E3.Native.Models.Golden.GoldenFixture.Open(Fixture);
        var v = fx.Tensor("input.volume");
        return (v.ToFloat32(), v.GetShape());
    });

    /// <summary>
    /// The LLM config mutated, then the whole model loaded, a training loss computed (it must be finite: a config that
    /// loads must make a working model) and two tokens generated.
    /// </summary>
    static FuzzTarget ModelLoad() => new()
    {
        Name = "model-llm-config", Seeds = [File.ReadAllBytes(Path.Combine(Fixture, "checkpoint", "llm", "config.json"))],
        Mutate = Mutations.Json, InputPath = Path.Combine("checkpoint", "llm", "config.json"), Setup = CopyCheckpoint,
        Read = (dir, _) =>
        {
            using var model = Med2E3Model.Load(Path.Combine(dir, "checkpoint"), "cpu");
            var (values, shape) = TinyVolume.Value;
            using var volume = Tensor.FromFloats(values, shape, DType.F32);
            using (var loss = model.Loss(volume, "What is seen in the liver?", "A lesion."))
            {
                float l = loss.ToFloatArray()[0];
                if (!float.IsFinite(l)) throw new InvalidOperationException($"the model loaded but its loss is {l}");
            }
            model.Generate(volume, "What is seen in the liver?", new GenerationOptions { MaxNewTokens = 2 });
        },
        RefusedExitCode = ExitCodes.Checkpoint, AllocationBudget = 96L << 20, Iterations = 240,
    };

    // ------------------------------------------------------------------------------------------------ tokenizers

    static void CopyTokenizer(string dir, bool withTokenizerJson = true)
    {
        foreach (string f in new[] { "tokenizer.model", "tokenizer.json", "tokenizer_config.json" })
        {
            if (f == "tokenizer.json" && !withTokenizerJson) continue;
            File.Copy(Path.Combine(Fixture, "checkpoint", f), Path.Combine(dir, f), overwrite: true);
        }
    }

    static void UseTokenizer(string dir)
    {
        var t = Phi3Tokenizer.Load(dir);
        int[] ids = t.EncodePrompt("<|user|>\n<image3d>\nWhat is seen in the liver? <|end|>\n<|assistant|>");
        t.Decode(ids);
        t.Decode(t.Encode("A lesion <|endoftext|> é 字"), skipSpecialTokens: false);
    }

    static FuzzTarget Tokenizer(string name, string file, Func<Random, byte[], byte[]> mutate) => new()
    {
        Name = name, Seeds = [File.ReadAllBytes(Path.Combine(Fixture, "checkpoint", file))], Mutate = mutate,
        InputPath = file, Setup = dir => CopyTokenizer(dir), Read = (dir, _) => UseTokenizer(dir),
        RefusedExitCode = ExitCodes.Checkpoint, Iterations = 600,
    };

    static FuzzTarget SpecialTokensMap() => new()
    {
        Name = "special-tokens-map",
        Seeds = [Encoding.UTF8.GetBytes("{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": " +
                                        "\"<|endoftext|>\", \"unk_token\": \"<unk>\", \"pad_token\": \"<|endoftext|>\", " +
                                        "\"additional_special_tokens\": [\"<|end|>\", \"<|user|>\"]}")],
        Mutate = Mutations.Json, InputPath = "special_tokens_map.json", Setup = dir => CopyTokenizer(dir),
        Read = (dir, _) => UseTokenizer(dir), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 400,
    };

    /// <summary>added_tokens.json is read when neither tokenizer.json nor tokenizer_config.json lists the added tokens.</summary>
    static FuzzTarget AddedTokens() => new()
    {
        Name = "added-tokens",
        Seeds = [Encoding.UTF8.GetBytes("{\"<|endoftext|>\": 320, \"<|end|>\": 325, \"<|user|>\": 326, \"<|assistant|>\": 322}")],
        Mutate = Mutations.Json, InputPath = "added_tokens.json", Setup = dir => CopyTokenizer(dir, withTokenizerJson: false),
        Read = (dir, _) => UseTokenizer(dir), RefusedExitCode = ExitCodes.Checkpoint, Iterations = 400,
    };

    static FuzzTarget BertVocab() => new()
    {
        Name = "bert-vocab", Seeds = [File.ReadAllBytes(Path.Combine(Fixture, "text_tokenizer", "vocab.txt"))],
        Mutate = Mutations.Lines, InputPath = "vocab.txt",
        Read = (_, p) => BertWordPieceTokenizer.Load(p).Encode("What abnormality is seen in the liver? É字 [SEP]", 24),
        RefusedExitCode = ExitCodes.Checkpoint, Iterations = 600,
    };

    /// <summary>fixture.json of a golden fixture (golden-check): every table and field the check reads.</summary>
    static FuzzTarget GoldenFixtureJson() => new()
    {
        Name = "golden-fixture", Seeds = [File.ReadAllBytes(Path.Combine(Fixture, "fixture.json"))], Mutate = Mutations.Json,
        InputPath = "fixture.json",
        Setup = dir =>
        {
            File.Copy(Path.Combine(Fixture, "golden.safetensors"), Path.Combine(dir, "golden.safetensors"));
            Directory.CreateDirectory(Path.Combine(dir, "checkpoint"));
        },
        Read = (dir, _) =>
        {
            var fx = Med2E3.Native.Models.Golden.GoldenFixture.Open(dir);
            foreach (string table in new[] { "phi_tokenizer", "sentencepiece", "bert", "bert_mask" }) fx.IdTable(table);
            fx.StringTable("phi_decode");
            var fields = (fx.Question, fx.Answer, fx.GenerationPrompt, fx.TrainingPrompt, fx.MaxNewTokens);
            GC.KeepAlive(fields);
        },
        RefusedExitCode = ExitCodes.BadInput, Iterations = 400,
    };

    // ------------------------------------------------------------------------------------------------ M3D JSON

    static byte[] M3DDataSeed => Encoding.UTF8.GetBytes("""
        [{"id": "a1", "vision3d": "ct/000001.npy", "question": "Which organ?", "question_type": "Organ",
          "answer_choice": "B", "conversations": [{"from": "human", "value": "<image3d>\nWhich organ? A. lung B. liver"},
          {"from": "gpt", "value": "B. liver"}]},
         {"vision3d": ["ct/2.npy"], "question": "Abnormality?", "conversations": [{"from": "human", "value": "Q"}]}]
        """);

    static byte[] M3DAnswersSeed => Encoding.UTF8.GetBytes("""
        [{"id": "a1", "answer": "B. liver", "answer_choice": "B", "question_type": "Organ"}, {"answer": "none"}]
        """);

    static byte[] M3DOutputsSeed => Encoding.UTF8.GetBytes("""[{"idx": 0, "outputs": "B. liver"}, {"idx": 1, "outputs": ""}]""");

    static FuzzTarget M3D(string name, byte[] seed, Action<string> read) => new()
    {
        Name = name, Seeds = [seed], Mutate = Mutations.Json, InputPath = "data.json", Read = (_, p) => read(p),
        RefusedExitCode = ExitCodes.BadInput, Iterations = 600,
    };
}
