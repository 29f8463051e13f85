namespace Med2E3.Native.Tensors;

/// <summary>Hyper-parameters of one AdamW step (torch.optim.AdamW semantics).</summary>
/// <param name="Lr">Learning rate.</param>
/// <param name="Beta1">First-moment decay (0.9).</param>
/// <param name="Beta2">Second-moment decay (0.999).</param>
/// <param name="Eps">Denominator epsilon (1e-8), added after the square root.</param>
/// <param name="WeightDecay">Decoupled weight decay: p ← p·(1 − lr·wd) before the Adam step.</param>
/// <param name="Step">1-based step count used for bias correction.</param>
public readonly record struct AdamWParams(double Lr, double Beta1, double Beta2, double Eps, double WeightDecay, int Step);
