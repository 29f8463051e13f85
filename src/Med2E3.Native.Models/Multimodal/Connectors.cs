using Med2E3.Native.Models.Layers;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// The 2D connector <c>mlp2x_gelu</c> (spec §5.1): SigLIP features (B·S, T2, C2) → (B·S, T2, D_llm), token-wise.
/// Keys: <c>_connector.0.*</c>, <c>_connector.2.*</c> of <c>vision2d_connector</c>.
/// </summary>
public sealed class Vision2DConnector
{
    private Vision2DConnector(Mlp2xGelu connector) => Connector = connector;

    /// <summary><c>_connector</c>.</summary>
    public Mlp2xGelu Connector { get; }

    public static Vision2DConnector Load(WeightLoader w, int inputDim, int outputDim) =>
        new(Mlp2xGelu.Load(w, "_connector", inputDim, outputDim));

    /// <summary>(…, C2) → (…, D).</summary>
    public Tensor Forward(Tensor features) => Connector.Forward(features); // (…, D)
}

/// <summary>The outputs of the 3D connector: pooled-and-projected 3D tokens and the TG-IS slice scores.</summary>
/// <param name="Tokens">Z3 (B, L3, D): 3D tokens in (z', y', x') raster order.</param>
/// <param name="SliceScores">S (B, S): softmax over slices of the text-guided slice scores.</param>
public sealed record Vision3DConnectorOutput(Tensor Tokens, Tensor SliceScores);

/// <summary>
/// The 3D connector <c>spatial_pooling_score15_mlp2x_gelu</c> with the TG-IS scoring module (spec §5.2).
/// <list type="number">
/// <item>3D features (B, N, C3), N = gz·gy·gx in (z, y, x) order → cube (B, C3, gz, gy, gx) → avg_pool3d 2×2×2 →
/// (B, C3, gz', gy', gx') → flattened in (z', y', x') order → MLP → Z3 (B, L3, D).</item>
/// <item>TG-IS: the G = gz' pooled depth planes form the groups; S slices are split evenly, S/G per group (both
/// derived from the shapes: the released model has 4 groups of 8, the tiny fixture 2 of 4). Each slice s is
/// represented by the mean over the L3/G tokens of group ⌊s·G/S⌋ concatenated with its own T2 slice tokens:
/// M (B, S, D); logits_s = M_s · text_mlp(p) / 5 (temperature hard-coded); scores = softmax over s.</item>
/// </list>
/// Keys: <c>_connector.0/2.*</c> and <c>text_mlp.*</c> of <c>vision3d_connector</c>.
/// </summary>
public sealed class Vision3DConnector
{
    /// <summary>The TG-IS temperature; the reference hard-codes 5 and ignores its argument (spec §5.2).</summary>
    public const double Temperature = 5.0;

    private Vision3DConnector(int[] grid, Mlp2xGelu connector, Linear textMlp)
    {
        Grid = grid;
        Connector = connector;
        TextMlp = textMlp;
    }

    /// <summary>Patch grid (gz, gy, gx) of the 3D encoder, before pooling.</summary>
    public int[] Grid { get; }

    /// <summary><c>_connector</c>: MLP C3 → D → D.</summary>
    public Mlp2xGelu Connector { get; }

    /// <summary><c>text_mlp</c>: Linear(C_text → D), no activation.</summary>
    public Linear TextMlp { get; }

    /// <summary>Rate of the dropout the reference applies to the scores while training (see <see cref="Forward"/>).</summary>
    public const double ScoreDropout = 0.1;

    public static Vision3DConnector Load(WeightLoader w, int[] grid, int inputDim, int outputDim, int textDim)
    {
        if (grid.Length != 3 || grid.Any(g => g % 2 != 0))
        {
            throw new ArgumentException($"Connectors.cs: patch grid {string.Join("x", grid)} must have three even sides (2×2×2 pooling)");
        }
        return new Vision3DConnector((int[])grid.Clone(),
            Mlp2xGelu.Load(w, "_connector", inputDim, outputDim),
            Linear.Load(w, "text_mlp", textDim, outputDim));
    }

    /// <summary>
    /// 3D features (B, N, C3), projected slice tokens Z2 (B, S, T2, D) and the text vector p (B, C_text) →
    /// (Z3 (B, L3, D), scores (B, S)). <paramref name="scoreDropout"/> null is evaluation semantics (the golden
    /// gradients were taken so); in training mode it drops the softmax scores (spec §5.2 step 5: zeroed with
    /// probability p, survivors × 1/(1 − p), so they no longer sum to 1) and the returned scores are the dropped ones.
    /// </summary>
    public Vision3DConnectorOutput Forward(Tensor features3d, Tensor slices2d, Tensor text, Dropout? scoreDropout = null)
    {
        using var scope = TensorScope.Begin();
        int b = features3d.Dim(0), n = features3d.Dim(1), c3 = features3d.Dim(2);
        int gz = Grid[0], gy = Grid[1], gx = Grid[2];
        if (n != gz * gy * gx)
        {
            throw new ShapeMismatchException("Vision3DConnector", features3d.ShapeSpan, $"expected {gz * gy * gx} tokens for grid {gz}x{gy}x{gx}");
        }
        var cube = features3d.Transpose(1, 2).Reshape(b, c3, gz, gy, gx);           // (B, C3, gz, gy, gx)
        var pooled = F.AvgPool3d(cube, [2, 2, 2], [2, 2, 2]);                        // (B, C3, gz', gy', gx')
        int groups = gz / 2, l3 = groups * (gy / 2) * (gx / 2);
        var tokens = pooled.Reshape(b, c3, l3).Transpose(1, 2);                      // (B, L3, C3), z' slowest
        var z3 = Connector.Forward(tokens);                                          // (B, L3, D)
        var scores = Score(z3, slices2d, text, groups);                              // (B, S)
        if (scoreDropout is not null) scores = scoreDropout.Apply(scores);           // (B, S), training only
        return new Vision3DConnectorOutput(scope.Keep(z3), scope.Keep(scores));
    }

    /// <summary>TG-IS (spec §5.2 step 5): Z3 (B, L3, D), Z2 (B, S, T2, D), p (B, C_text) → softmax scores (B, S).</summary>
    private Tensor Score(Tensor z3, Tensor z2, Tensor text, int groups)
    {
        using var scope = TensorScope.Begin();
        int b = z3.Dim(0), l3 = z3.Dim(1), d = z3.Dim(2), s = z2.Dim(1);
        if (s % groups != 0)
        {
            throw new ShapeMismatchException("Vision3DConnector", z2.ShapeSpan, $"{s} slices do not split into {groups} depth groups");
        }
        var grouped = z3.Reshape(b, groups, l3 / groups, d);                        // (B, G, L3/G, D)
        var perSlice = F.RepeatInterleave(grouped, s / groups, 1);                  // (B, S, L3/G, D), slice s → group s·G/S
        var joined = F.Concat(2, perSlice, z2);                                     // (B, S, L3/G + T2, D), 3D tokens first
        var m = F.Mean(joined, 2);                                                  // (B, S, D)
        var t = TextMlp.Forward(text).Unsqueeze(2);                                 // (B, D, 1)
        var logits = F.Scale(F.MatMul(m, t), 1.0 / Temperature);                    // (B, S, 1)
        var scores = F.Softmax(logits.Reshape(b, s));                               // (B, S), softmax over slices
        return scope.Keep(scores);
    }

    /// <summary>Slice fusion (spec §5.2 step 6): Z2f[b] = Σ_s S[b, s]·Z2[b, s] → (B, T2, D).</summary>
    public static Tensor Fuse(Tensor slices2d, Tensor scores)
    {
        using var scope = TensorScope.Begin();
        int b = slices2d.Dim(0), s = slices2d.Dim(1), t2 = slices2d.Dim(2), d = slices2d.Dim(3);
        var flat = slices2d.Reshape(b, s, t2 * d);                                  // (B, S, T2·D)
        var fused = F.MatMul(scores.Unsqueeze(1), flat);                            // (B, 1, T2·D)
        return scope.Keep(fused.Reshape(b, t2, d));                                 // (B, T2, D)
    }
}
