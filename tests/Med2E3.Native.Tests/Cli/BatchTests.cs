using System.Text.Json;
using Med2E3.Native.Cli;
using Med2E3.Native.Models.Demo;

namespace Med2E3.Native.Tests.Cli;

/// <summary><c>batch</c> on M3D-style data with the demo checkpoint: answers, official scores, per-item errors.</summary>
public class BatchTests
{
    const string Data = """
        [
         {"id": "a", "vision3d": "a.npy", "question": "What abnormality is seen in the liver?", "question_type": "1",
          "conversations": [{"from": "human", "value": "<image3d>\nWhat abnormality is seen in the liver?"},
                            {"from": "gpt", "value": "A 2.3 cm hypodense lesion in segment VII."}]},
         {"id": "b", "vision3d": "b.npy", "question": "Which organ?", "question_type": "2", "answer_choice": "B",
          "conversations": [{"from": "human", "value": "<image3d>\nWhich organ? Choices: A. liver B. spleen"},
                            {"from": "gpt", "value": "B. spleen"}]}
        ]
        """;

    static (CliRunner.TempDir Dir, string Checkpoint) Setup(string data)
    {
        var tmp = new CliRunner.TempDir();
        var demo = DemoAssets.Extract();
        Directory.CreateDirectory(tmp.File("vols"));
        File.Copy(demo.ReferenceVolumePath, Path.Combine(tmp.File("vols"), "a.npy"));
        File.Copy(Path.Combine(CliRunner.RepoRoot, "tests", "data", "volumes", "phantom-1x8x32x32.npy"), Path.Combine(tmp.File("vols"), "b.npy"));
        File.WriteAllText(tmp.File("data.json"), data);
        return (tmp, demo.CheckpointDir);
    }

    static CliRunner.Result Batch(CliRunner.TempDir tmp, string checkpoint) =>
        CliRunner.Run("batch", "--checkpoint", checkpoint, "--data", tmp.File("data.json"), "--volume-root", tmp.File("vols"),
            "--out", tmp.File("out.json"), "--device", "cpu", "--max-new-tokens", "12");

    /// <summary>The JSON objects of a JSON Lines file, one per line.</summary>
    internal static List<JsonElement> Lines(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement)];

    [Fact]
    public void AnswersAndScoresEveryItem()
    {
        var (tmp, checkpoint) = Setup(Data);
        using var _ = tmp;
        var r = Batch(tmp, checkpoint);
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains($"answered 2/2 in ", r.Out);
        Assert.Contains("closed VQA accuracy", r.Out);
        Assert.Contains("[2/2] item 1 (b.npy)", r.Err);
        Assert.Contains("volumes/s  ETA ", r.Err);

        // --out holds one JSON object per item and line; the summary is its own document.
        var items = Lines(tmp.File("out.json"));
        Assert.Equal(2, items.Count);
        // Item 0's conversation is the fixture's generation prompt and its question the fixture's question.
        long[] golden = [254, 139, 306, 317, 20, 45, 126, 54, 17, 126, 54, 17];
        Assert.Equal(golden, items[0].GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(JsonValueKind.Null, items[0].GetProperty("correct").ValueKind);
        Assert.Equal(JsonValueKind.Object, items[0].GetProperty("scores").ValueKind);
        Assert.Contains(items[1].GetProperty("correct").ValueKind, new[] { JsonValueKind.True, JsonValueKind.False });
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp.File("out.summary.json")));
        Assert.Equal(tmp.File("out.json"), doc.RootElement.GetProperty("answers").GetString());
        var summary = doc.RootElement.GetProperty("summary");
        Assert.Equal(2, summary.GetProperty("answered").GetInt32());
        Assert.Equal(0, summary.GetProperty("failed").GetInt32());
        Assert.Equal(1, summary.GetProperty("closed_accuracy").GetProperty("count").GetInt32());
        Assert.Equal(2, summary.GetProperty("bleu1").GetProperty("count").GetInt32());
        foreach (string metric in new[] { "bleu1", "bleu4", "rouge1", "rouge_l" })
        {
            double v = summary.GetProperty(metric).GetProperty("overall").GetDouble();
            Assert.InRange(v, 0, 1);
        }
    }

    [Fact]
    public void ABadVolumeFailsItsItemOnlyAndExitsWith3()
    {
        string data = Data.TrimEnd().TrimEnd(']') + """
            , {"id": "c", "vision3d": "missing.npy", "question": "Anything?",
               "conversations": [{"from": "human", "value": "<image3d>\nAnything?"}]}]
            """;
        var (tmp, checkpoint) = Setup(data);
        using var _ = tmp;
        var r = Batch(tmp, checkpoint);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        string missing = Path.Combine(tmp.File("vols"), "missing.npy");
        Assert.Contains($"item 2: {missing}: volume file not found", r.ErrLines);
        Assert.Contains($"med2e3: 1 of 3 items could not be answered (bad volume files); their errors are in {tmp.File("out.json")}", r.ErrLines);
        Assert.Equal($"{missing}: volume file not found", Lines(tmp.File("out.json"))[2].GetProperty("error").GetString());
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp.File("out.summary.json")));
        Assert.Equal(2, doc.RootElement.GetProperty("summary").GetProperty("answered").GetInt32());
    }

    [Theory]
    [InlineData("not json at all", "invalid JSON")]
    [InlineData("{\"vision3d\": \"a.npy\"}", "expected a JSON list of items, found an object")]
    [InlineData("[{\"vision3d\": \"a.npy\", \"conversations\": []}]", "item 0: field 'question' is missing")]
    [InlineData("[]", "the data file holds no items")]
    [InlineData("[{\"vision3d\": \"nowhere.npy\", \"question\": \"q\", \"conversations\": [{\"from\": \"human\", \"value\": \"q\"}]}]",
        "none of the 1 volumes exists under")]
    public void MalformedDataFile(string data, string problem)
    {
        var (tmp, checkpoint) = Setup(data);
        using var _ = tmp;
        var r = Batch(tmp, checkpoint);
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        string line = Assert.Single(r.ErrLines, l => l.StartsWith("med2e3: "));
        Assert.StartsWith($"med2e3: {tmp.File("data.json")}: ", line);
        Assert.Contains(problem, line);
        Assert.False(File.Exists(tmp.File("out.json")));
    }

    [Fact]
    public void DicomFoldersAndTheVolumeOptionsWorkInBatchToo()
    {
        // One item is a DICOM series folder, the other a NIfTI file; --window reaches both, --verbose shows it.
        const string data = """
            [
             {"vision3d": "ct-series", "question": "Where?", "conversations": [{"from": "human", "value": "<image3d>\nWhere?"}]},
             {"vision3d": "ct.nii.gz", "question": "Where?", "conversations": [{"from": "human", "value": "<image3d>\nWhere?"}]}
            ]
            """;
        var (tmp, checkpoint) = Setup(data);
        using var _ = tmp;
        string root = Path.Combine(CliRunner.RepoRoot, "tests", "data");
        Directory.CreateDirectory(Path.Combine(tmp.File("vols"), "ct-series"));
        foreach (string f in Directory.GetFiles(Path.Combine(root, "dicom", "series", "phantom-ct-8x32x32")))
            File.Copy(f, Path.Combine(tmp.File("vols"), "ct-series", Path.GetFileName(f)));
        File.Copy(Path.Combine(root, "volumes", "phantom-ct-8x32x32.nii.gz"), Path.Combine(tmp.File("vols"), "ct.nii.gz"));
        var r = CliRunner.Run("batch", "--checkpoint", checkpoint, "--data", tmp.File("data.json"), "--volume-root",
            tmp.File("vols"), "--out", tmp.File("out.jsonl"), "--device", "cpu", "--max-new-tokens", "3", "--window", "-160,240",
            "--verbose");
        Assert.True(r.ExitCode == ExitCodes.Ok, r.ToString());
        Assert.Contains("answered 2/2 in ", r.Out);
        Assert.Contains("  format:      DICOM series", r.Err);
        Assert.Contains("  format:      NIfTI-1, int16", r.Err);
        Assert.Equal(2, r.Err.Split("intensity:   window [-160, 240], then min–max [-160, 240] → [0, 1]").Length - 1);

        // The same phantom as DICOM and as NIfTI: the same model input, so the same answer and slice scores.
        var items = File.ReadAllLines(tmp.File("out.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(2, items.Length);
        Assert.Equal(items[0].GetProperty("token_ids").ToString(), items[1].GetProperty("token_ids").ToString());
        Assert.Equal(items[0].GetProperty("slice_scores").ToString(), items[1].GetProperty("slice_scores").ToString());
    }
}
