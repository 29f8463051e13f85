using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Models.Training;

/// <summary>
/// One training example, tokenized: the BERT question for TG-IS, the phi-template ids with their labels (−100 outside
/// the answers), and a loader for the volume (D·H·W floats in [0,1] at the model's img_size, already cropped and
/// resized, spec §1). The volume is loaded each time the sample is visited, so a data set need not fit in memory.
/// </summary>
public sealed class FineTuneSample
{
    /// <param name="name">A label for logs and errors (e.g. "item 3 (ct_0003.npy)").</param>
    /// <param name="loadVolume">Returns the volume, (D, H, W) row-major at the model's img_size.</param>
    /// <param name="questionIds">BERT ids, padded to the question length.</param>
    /// <param name="questionMask">BERT attention mask.</param>
    /// <param name="inputIds">Phi-3 ids with the &lt;image3d&gt; sentinel (−201).</param>
    /// <param name="labels">Labels aligned with <paramref name="inputIds"/> (−100 where no loss is taken).</param>
    public FineTuneSample(string name, Func<float[]> loadVolume, long[] questionIds, long[] questionMask, int[] inputIds,
        int[] labels)
    {
        ArgumentNullException.ThrowIfNull(loadVolume);
        if (inputIds.Length != labels.Length)
        {
            throw new ArgumentException($"FineTuneSample.cs: {name}: {inputIds.Length} ids but {labels.Length} labels");
        }
        Name = name;
        LoadVolume = loadVolume;
        QuestionIds = questionIds;
        QuestionMask = questionMask;
        InputIds = inputIds;
        Labels = labels;
    }

    public string Name { get; }

    public Func<float[]> LoadVolume { get; }

    public long[] QuestionIds { get; }

    public long[] QuestionMask { get; }

    public int[] InputIds { get; }

    public int[] Labels { get; }

    /// <summary>Labels that take part in the loss (the first position predicts nothing).</summary>
    public int TrainedTokens => Labels.Skip(1).Count(l => l != PhiTemplate.IgnoreIndex);

    /// <summary>
    /// A sample from a conversation as in the M3D data files: the human turns (with &lt;image3d&gt;) and the gpt answers
    /// in the phi template, labelled as the reference (spec §7.2), and <paramref name="bertQuestion"/> for TG-IS.
    /// </summary>
    public static FineTuneSample FromConversation(Med2E3Model model, string name, Func<float[]> loadVolume,
        string bertQuestion, IReadOnlyList<ChatMessage> conversation)
    {
        ArgumentNullException.ThrowIfNull(model);
        var example = PhiTemplate.BuildTraining(model.Tokenizer, conversation, model.MaxLength);
        var (questionIds, questionMask) = model.QuestionInputs(bertQuestion);
        return new FineTuneSample(name, loadVolume, questionIds, questionMask, example.InputIds, example.Labels);
    }

    /// <summary>
    /// A one-round sample as <see cref="Med2E3Model.Loss(Tensors.Tensor, string, string, TrainingOptions?)"/> builds it:
    /// "&lt;image3d&gt;\n" + question as the user turn (unless it has the placeholder) and the answer as the trained
    /// tokens; BERT reads the question without the placeholder.
    /// </summary>
    public static FineTuneSample FromQuestion(Med2E3Model model, string name, Func<float[]> loadVolume, string question,
        string answer)
    {
        var (promptQuestion, bertQuestion) = Med2E3Model.SplitQuestion(question);
        return FromConversation(model, name, loadVolume, bertQuestion,
            [new ChatMessage("human", promptQuestion), new ChatMessage("gpt", answer)]);
    }
}
