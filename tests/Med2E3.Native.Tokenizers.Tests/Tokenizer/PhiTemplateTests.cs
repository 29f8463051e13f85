using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Tests.Tokenizer;

public class PhiTemplateTests
{
    private static readonly Lazy<Phi3Tokenizer> Shared = new(() => Phi3Tokenizer.Load(TinyFixture.CheckpointDir));

    private static string Question => TinyFixture.Meta.GetProperty("question").GetString()!;

    private static string Answer => TinyFixture.Meta.GetProperty("answer").GetString()!;

    [Fact]
    public void BuildPromptMatchesTheFixturePrompt()
    {
        string expected = TinyFixture.Meta.GetProperty("generation_prompt").GetString()!;
        Assert.Equal(expected, PhiTemplate.BuildPrompt("<image3d>\n" + Question));
        // Surrounding whitespace of the question is stripped (Python str.strip, which includes U+001C..U+001F).
        Assert.Equal(expected, PhiTemplate.BuildPrompt(" \u001F\t<image3d>\n" + Question + "  \n"));
    }

    [Fact]
    public void BuildConversationMatchesBuildPromptAndTheTrainingPrompt()
    {
        string q = "<image3d>\n" + Question;
        Assert.Equal(PhiTemplate.BuildPrompt(q), PhiTemplate.BuildConversation([new ChatMessage("human", q)]));
        string training = TinyFixture.Meta.GetProperty("training_prompt").GetString()!;
        Assert.Equal(training,
            PhiTemplate.BuildConversation([new ChatMessage("human", q), new ChatMessage("gpt", " " + Answer + "\n")]));
        // A leading non-human message is dropped; an empty answer renders as the generation prompt.
        Assert.Equal(PhiTemplate.BuildPrompt(q), PhiTemplate.BuildConversation(
            [new ChatMessage("gpt", "ignored"), new ChatMessage("human", q), new ChatMessage("gpt", "  ")]));
    }

    [Fact]
    public void BuildTrainingMatchesGoldenIdsAndLabels()
    {
        var example = PhiTemplate.BuildTraining(Shared.Value, "<image3d>\n" + Question, Answer);
        Assert.Equal(TinyFixture.Meta.GetProperty("training_prompt").GetString(), example.Prompt);
        Assert.Equal(TinyFixture.GoldenInt64("input.train_ids").Select(x => (int)x), example.InputIds);
        Assert.Equal(TinyFixture.GoldenInt64("input.train_labels").Select(x => (int)x), example.Labels);
        Assert.False(example.LengthMismatch);
    }

    [Fact]
    public void TrainedSpanIsTheAnswerWithItsLeadingSpaceAndEos()
    {
        var tok = Shared.Value;
        var example = PhiTemplate.BuildTraining(tok, "<image3d>\nWhat?", "Yes.");
        int firstTrained = Array.FindIndex(example.Labels, l => l != PhiTemplate.IgnoreIndex);
        int[] trained = example.Labels[firstTrained..];
        Assert.All(trained, l => Assert.NotEqual(PhiTemplate.IgnoreIndex, l));
        Assert.Equal(tok.EosTokenId, trained[^1]);
        // The trained tokens are " Yes." followed by EOS: the instruction ends at " ASSISTANT:".
        Assert.Equal(" Yes.", " " + tok.Decode(trained));
        Assert.Equal(tok.EncodePrompt(PhiTemplate.SystemPrompt + " USER: <image3d>\nWhat? ASSISTANT:").Length, firstTrained);
    }

    [Fact]
    public void SecondRoundLengthMismatchMasksTheWholeSampleAsTheReferenceDoes()
    {
        // In the full prompt "USER: …" of round 2 follows <|endoftext|> and gets no "▁"; re-tokenized alone it does,
        // so the reference's per-round lengths overshoot by one, it warns, and masks the sample.
        var example = PhiTemplate.BuildTraining(Shared.Value,
        [
            new ChatMessage("human", "<image3d>\nWhat?"), new ChatMessage("gpt", "Yes."),
            new ChatMessage("human", "Sure?"), new ChatMessage("gpt", "No."),
        ]);
        Assert.True(example.LengthMismatch);
        Assert.All(example.Labels, l => Assert.Equal(PhiTemplate.IgnoreIndex, l));
        Assert.EndsWith("USER: Sure? ASSISTANT: No.<|endoftext|>", example.Prompt);
    }
}
