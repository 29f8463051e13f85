namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// A step of <see cref="Med2E3Model.LoadAsync"/>, reported after it completed: the checkpoint's configs and tensor index, then each component's weights, then the tokenizers.
/// </summary>
/// <param name="Step">What was just loaded: <see cref="Checkpoint"/>, a component folder name
/// (<c>vision3d_model</c>, <c>vision2d_model</c>, <c>llm</c>), <see cref="Connectors"/> or <see cref="Tokenizers"/>.</param>
/// <param name="Completed">Steps done so far, 1 … <paramref name="Total"/>.</param>
/// <param name="Total">Steps in a load (<see cref="StepCount"/>).</param>
/// <param name="Elapsed">Time since the load started.</param>
public readonly record struct LoadProgress(string Step, int Completed, int Total, TimeSpan Elapsed)
{
    /// <summary>The steps of one load.</summary>
    public const int StepCount = 6;

    /// <summary>Step name: configs read, tensors indexed and checked against them.</summary>
    public const string Checkpoint = "checkpoint";

    /// <summary>Step name: the 2D and 3D connectors (with TG-IS).</summary>
    public const string Connectors = "connectors";

    /// <summary>Step name: the Phi-3 and BERT tokenizers.</summary>
    public const string Tokenizers = "tokenizers";

    /// <summary>Completed / Total, in [0, 1].</summary>
    public double Fraction => Total == 0 ? 1 : (double)Completed / Total;
}
