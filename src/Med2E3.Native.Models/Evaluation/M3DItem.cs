using Med2E3.Native.Tokenizers;

namespace Med2E3.Native.Models.Evaluation;

/// <summary>
/// One item of an M3D-style data file (the official Med-2E3 data format, spec §3.1 / §7).
/// </summary>
/// <param name="Index">Position in the file (0-based); the official outputs file calls it <c>idx</c>.</param>
/// <param name="Id">The item's <c>id</c>, when present (string or number, as text).</param>
/// <param name="Vision3D">Paths of the .npy volumes, relative to the volume root (<c>vision3d</c>: a string or a list).</param>
/// <param name="Question">The BERT-side question string for TG-IS (<c>question</c>); not the LLM prompt.</param>
/// <param name="Conversations">The chat: <c>{"from": "human", "value": "&lt;image3d&gt;\n…"}</c>, then
/// <c>{"from": "gpt", "value": answer}</c>, possibly more rounds.</param>
/// <param name="QuestionType">The item's <c>question_type</c> as text, when present.</param>
/// <param name="AnswerChoice">The item's <c>answer_choice</c> (closed VQA letter), when present.</param>
/// <param name="Answer">The item's <c>answer</c> field, when present.</param>
public sealed record M3DItem(
    int Index,
    string? Id,
    IReadOnlyList<string> Vision3D,
    string Question,
    IReadOnlyList<ChatMessage> Conversations,
    string? QuestionType,
    string? AnswerChoice,
    string? Answer)
{
    /// <summary>
    /// The conversation to generate from: every message up to and including the last human one (trailing answers
    /// are references, not prompt).
    /// </summary>
    public IReadOnlyList<ChatMessage> PromptMessages
    {
        get
        {
            int last = -1;
            for (int i = 0; i < Conversations.Count; i++)
            {
                if (Conversations[i].From == "human")
                {
                    last = i;
                }
            }

            return [.. Conversations.Take(last + 1)];
        }
    }

    /// <summary>The <c>phi</c> generation prompt (ends in "ASSISTANT:").</summary>
    public string Prompt => PhiTemplate.BuildConversation(PromptMessages);

    /// <summary>The reference answer: the <c>answer</c> field, else the gpt message after the last human one.</summary>
    public string? ReferenceAnswer
    {
        get
        {
            if (Answer is not null)
            {
                return Answer;
            }

            int after = PromptMessages.Count;
            return after < Conversations.Count ? Conversations[after].Value : null;
        }
    }
}
