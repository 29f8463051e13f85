namespace Med2E3.Native.Tokenizers;

/// <summary>One message of a conversation (<c>{"from": "human" | "gpt", "value": ...}</c>).</summary>
public sealed record ChatMessage(string From, string Value);

/// <summary>
/// A tokenized training conversation: prompt text, ids with image sentinels, and labels (−100 where no loss is
/// taken).
/// </summary>
/// <param name="Prompt">The full rendered conversation.</param>
/// <param name="InputIds">Ids as <see cref="Phi3Tokenizer.EncodePrompt"/> returns them.</param>
/// <param name="Labels">Same length as <paramref name="InputIds"/>; the answer tokens (with their EOS) keep their id.</param>
/// <param name="LengthMismatch">The reference's re-tokenized round lengths did not add up to the ids; the reference then
/// prints a warning and masks the whole sample, and so do these labels.</param>
public sealed record TrainingExample(string Prompt, int[] InputIds, int[] Labels, bool LengthMismatch);

/// <summary>
/// The <c>phi</c> conversation template (spec §7.2), as the reference Template renders and labels it:
/// <c>SYSTEM + " "</c>, then per round <c>"USER: " + q + " "</c> and <c>"ASSISTANT: " + a + "&lt;|endoftext|&gt;"</c>;
/// a round without an answer ends in <c>"ASSISTANT:"</c> (generation). Messages are stripped of surrounding
/// whitespace (Python <c>str.strip()</c>).
/// </summary>
public static class PhiTemplate
{
    public const string SystemPrompt =
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        + "detailed, and polite answers to the user's questions.";

    /// <summary>End of an answer; also the round separator used for the labels.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Splits a round into instruction and answer for the labels.</summary>
    public const string AssistantSeparator = " ASSISTANT:";

    /// <summary>Label value where no loss is taken.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>Generation prompt for one question: SYSTEM + " USER: " + question.strip() + " ASSISTANT:".</summary>
    public static string BuildPrompt(string question)
    {
        ArgumentNullException.ThrowIfNull(question);
        return SystemPrompt + " " + "USER: " + PyText.Strip(question) + " " + "ASSISTANT:";
    }

    /// <summary>
    /// Renders a conversation as the reference <c>Template.prompt</c>: a leading non-human message is dropped, then
    /// messages alternate question / answer; when the last question has no answer the prompt ends in "ASSISTANT:".
    /// </summary>
    public static string BuildConversation(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var questions = new List<string>();
        var answers = new List<string>();
        int firstIsNotQuestion = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            if (i == 0 && messages[i].From != "human")
            {
                firstIsNotQuestion = 1;
                continue;
            }

            (i % 2 == firstIsNotQuestion ? questions : answers).Add(messages[i].Value);
        }

        if (questions.Count == answers.Count + 1)
        {
            answers.Add("");
        }

        var msg = new System.Text.StringBuilder();
        int rounds = Math.Min(questions.Count, answers.Count);
        for (int i = 0; i < rounds; i++)
        {
            if (i == 0)
            {
                msg.Append(SystemPrompt).Append(' ');
            }

            string q = PyText.Strip(questions[i]);
            string a = PyText.Strip(answers[i]);
            msg.Append("USER: ").Append(q).Append(' ');
            if (a.Length != 0)
            {
                msg.Append("ASSISTANT: ").Append(a).Append(EndOfText);
            }
            else
            {
                msg.Append("ASSISTANT:");
            }
        }

        return msg.ToString();
    }

    /// <summary>One-round training example: the answer " a&lt;|endoftext|&gt;" is trained, everything before it
    /// (BOS, system, "USER: …", the image sentinel, " ASSISTANT:") gets <see cref="IgnoreIndex"/>.</summary>
    public static TrainingExample BuildTraining(Phi3Tokenizer tokenizer, string question, string answer,
        int modelMaxLength = 768)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(answer);
        return BuildTraining(tokenizer, [new ChatMessage("human", question), new ChatMessage("gpt", answer)],
            modelMaxLength);
    }

    /// <summary>
    /// Training example for a whole conversation, labelled as the reference <c>make_labels</c>: the prompt is split
    /// on &lt;|endoftext|&gt; into rounds; per round the instruction part (up to and including " ASSISTANT:") is
    /// masked and the rest, plus one EOS, is kept; the lengths come from re-tokenizing each round, with one BOS
    /// subtracted for later rounds when the tokenizer adds BOS. Everything after the last round is masked. If the
    /// total does not match the ids (and is below <paramref name="modelMaxLength"/>), the whole sample is masked.
    /// </summary>
    public static TrainingExample BuildTraining(Phi3Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages,
        int modelMaxLength = 768)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string prompt = BuildConversation(messages);
        int[] ids = tokenizer.EncodePrompt(prompt);
        int[] labels = (int[])ids.Clone();

        // total_len = number of non-pad ids, plus the EOS tokens of the prompt when pad == eos (they were counted
        // out as padding).
        int pad = tokenizer.PadTokenId ?? tokenizer.EosTokenId;
        int totalLength = ids.Count(id => id != pad);
        if (pad == tokenizer.EosTokenId)
        {
            totalLength += CountOccurrences(prompt, EndOfText);
        }

        string[] rounds = prompt.Split(EndOfText);
        int eosTokenLength = tokenizer.Encode(EndOfText).Length;
        int cursor = 0;
        for (int idx = 0; idx < rounds.Length; idx++)
        {
            string round = rounds[idx];
            if (round.Length == 0)
            {
                break;
            }

            string[] parts = round.Split(AssistantSeparator);
            if (parts.Length != 2)
            {
                break;
            }

            string instruction = parts[0] + AssistantSeparator;
            int roundLength = tokenizer.EncodePrompt(round).Length + 1;
            int instructionLength = tokenizer.EncodePrompt(instruction).Length;
            if (eosTokenLength > 1 && idx != 0)
            {
                roundLength--;
                instructionLength--;
            }

            Mask(labels, cursor, cursor + instructionLength);
            cursor += roundLength;
        }

        Mask(labels, cursor, labels.Length);
        bool mismatch = cursor < modelMaxLength && cursor != totalLength;
        if (mismatch)
        {
            Array.Fill(labels, IgnoreIndex);
        }

        return new TrainingExample(prompt, ids, labels, mismatch);
    }

    // Python slice assignment labels[start:end] = IGNORE_INDEX: bounds are clamped, an empty range does nothing.
    private static void Mask(int[] labels, int start, int end)
    {
        start = Math.Clamp(start, 0, labels.Length);
        end = Math.Clamp(end, 0, labels.Length);
        for (int i = start; i < end; i++)
        {
            labels[i] = IgnoreIndex;
        }
    }

    private static int CountOccurrences(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0;
             i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
