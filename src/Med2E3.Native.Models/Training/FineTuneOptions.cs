namespace Med2E3.Native.Models.Training;

/// <summary>
/// Settings of the stage-2 fine-tuning recipe (spec §9). The defaults are the recipe's: 4 epochs, learning rate 5e-5,
/// cosine schedule with warmup ratio 0.03, AdamW β = (0.9, 0.999), ε = 1e-8, weight decay 0, max grad-norm 1.0, TG-IS
/// score dropout and BERT dropout 0.1, and the §9 augmentations. The forward runs one sample at a time; the recipe's
/// global batch of 128 is <see cref="GradAccum"/> = 128.
/// </summary>
public sealed record FineTuneOptions
{
    /// <summary>Passes over the data (the recipe: 4).</summary>
    public int Epochs { get; init; } = 4;

    /// <summary>Peak learning rate (the recipe: 5e-5).</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>Samples whose gradients are accumulated into one optimiser step (each loss scaled by 1/n).</summary>
    public int GradAccum { get; init; } = 1;

    /// <summary>Stop after this many optimiser steps (the schedule is then laid over these steps), or null.</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Linear warmup over ceil(ratio · total steps) steps.</summary>
    public double WarmupRatio { get; init; } = 0.03;

    /// <summary>AdamW decoupled weight decay (the recipe: 0).</summary>
    public double WeightDecay { get; init; }

    /// <summary>AdamW β1.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>AdamW β2.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>AdamW ε.</summary>
    public double Eps { get; init; } = 1e-8;

    /// <summary>The global gradient norm is clipped to this value before each step.</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Apply the §9 augmentations (rotate90, flips, intensity scale and shift) to every volume.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>Training-mode TG-IS score dropout and BERT dropout (0.1 each).</summary>
    public bool Dropout { get; init; } = true;

    /// <summary>Seed of the data order, the augmentations and the dropout masks.</summary>
    public long Seed { get; init; } = 42;

    /// <summary>Visit the samples in a seeded random order each epoch (as the reference trainer does).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Recompute SigLIP and Phi-3 layers in backward instead of keeping their activations.</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>A one-line reason when a value is out of range, else null.</summary>
    public string? Validate()
    {
        if (Epochs < 1) return $"epochs must be at least 1, got {Epochs}";
        if (GradAccum < 1) return $"grad-accum must be at least 1, got {GradAccum}";
        if (MaxSteps is < 1) return $"max-steps must be at least 1, got {MaxSteps}";
        if (!(LearningRate >= 0) || double.IsInfinity(LearningRate)) return $"learning rate must be a finite value ≥ 0, got {LearningRate}";
        if (!(WarmupRatio is >= 0 and <= 1)) return $"warmup ratio must be in [0, 1], got {WarmupRatio}";
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) return $"weight decay must be a finite value ≥ 0, got {WeightDecay}";
        if (!(MaxGradNorm > 0)) return $"max grad-norm must be > 0, got {MaxGradNorm}";
        return null;
    }
}
