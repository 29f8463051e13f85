using Med2E3.Native.Models.Evaluation;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Evaluation;

public sealed class M3DDatasetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("m3d").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        string path = Path.Combine(_dir, Guid.NewGuid() + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ReadsItemsAndIgnoresExtraFields()
    {
        string path = Write("""
            [
              {"id": "ct_001", "vision3d": "ct_quizze/001/Axial.npy", "question": "Which organ?",
               "conversations": [{"from": "human", "value": "<image3d>\nWhich organ?"},
                                 {"from": "gpt", "value": "B. Liver"}],
               "question_type": 3, "answer_choice": "B", "extra": {"anything": [1, 2]}},
              {"vision3d": ["a.npy", "b.npy"], "question": "Describe.",
               "conversations": [{"from": "human", "value": " <image3d>\nDescribe. "}], "answer": "Normal."}
            ]
            """);
        var items = M3DDataset.Load(path);
        Assert.Equal(2, items.Count);
        var a = items[0];
        Assert.Equal((0, "ct_001", "Which organ?", "3", "B"), (a.Index, a.Id, a.Question, a.QuestionType, a.AnswerChoice));
        Assert.Equal(["ct_quizze/001/Axial.npy"], a.Vision3D);
        Assert.Equal(PhiTemplate.BuildPrompt("<image3d>\nWhich organ?"), a.Prompt);
        Assert.Equal("B. Liver", a.ReferenceAnswer);
        var b = items[1];
        Assert.Equal(["a.npy", "b.npy"], b.Vision3D);
        Assert.Equal(PhiTemplate.BuildPrompt("<image3d>\nDescribe."), b.Prompt);
        Assert.Equal("Normal.", b.ReferenceAnswer);
        Assert.Null(b.Id);
    }

    [Theory]
    [InlineData("""[{"vision3d": "a.npy", "conversations": [{"from": "human", "value": "q"}]}]""", "item 0: field 'question' is missing")]
    [InlineData("""[{"vision3d": 3, "question": "q", "conversations": [{"from": "human", "value": "q"}]}]""", "item 0: field 'vision3d' must be a path")]
    [InlineData("""[{"vision3d": [], "question": "q", "conversations": [{"from": "human", "value": "q"}]}]""", "item 0: field 'vision3d' must be a path")]
    [InlineData("""[{"vision3d": "a.npy", "question": "q"}]""", "item 0: field 'conversations' is missing")]
    [InlineData("""[{"vision3d": "a.npy", "question": "q", "conversations": [{"value": "q"}]}]""", "item 0: field 'conversations[0].from' is missing")]
    [InlineData("""[{"vision3d": "a.npy", "question": "q", "conversations": [{"from": "gpt", "value": "a"}]}]""", "item 0: field 'conversations' has no message from \"human\"")]
    [InlineData("""[{"vision3d": "a.npy", "question": 5, "conversations": [{"from": "human", "value": "q"}]}]""", "item 0: field 'question' must be a string, found a number")]
    [InlineData("""{"vision3d": "a.npy"}""", "expected a JSON list of items, found an object")]
    [InlineData("""[1]""", "item 0: expected an object, found a number")]
    [InlineData("""[{"vision3d": """, "invalid JSON")]
    public void BadItemsNameFileItemAndField(string json, string expected)
    {
        string path = Write(json);
        var e = Assert.Throws<M3DDataException>(() => M3DDataset.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void SecondItemErrorsCarryItsIndex()
    {
        string path = Write("""
            [{"vision3d": "a.npy", "question": "q", "conversations": [{"from": "human", "value": "q"}]},
             {"vision3d": "b.npy", "conversations": [{"from": "human", "value": "q"}]}]
            """);
        var e = Assert.Throws<M3DDataException>(() => M3DDataset.Load(path));
        Assert.Equal((1, "question"), (e.ItemIndex, e.Field));
    }

    [Fact]
    public void MissingFileIsTyped()
    {
        string path = Path.Combine(_dir, "nope.json");
        Assert.Equal(path, Assert.Throws<M3DDataException>(() => M3DDataset.Load(path)).FilePath);
    }

    [Fact]
    public void OutputsRoundTripAndAnswersLoad()
    {
        string outputs = Path.Combine(_dir, "out.json");
        M3DDataset.WriteOutputs(outputs, ["B. Liver", "", "naïve \"quoted\"\n"]);
        Assert.Equal(["B. Liver", "", "naïve \"quoted\"\n"], M3DDataset.LoadOutputs(outputs));
        Assert.StartsWith("[{\"idx\":0,\"outputs\":", File.ReadAllText(outputs));

        string answers = Write("""[{"id": 7, "answer": "Liver", "answer_choice": "B", "question_type": 2}, {"answer": "x"}]""");
        var list = M3DDataset.LoadAnswers(answers);
        Assert.Equal(new M3DAnswer(0, "7", "Liver", "B", "2"), list[0]);
        Assert.Equal(new M3DAnswer(1, null, "x", null, null), list[1]);
    }
}
