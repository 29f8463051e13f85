using Med2E3.Native.Models.Config;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Models.Vision3D;

/// <summary>
/// The M3D-CLIP vision encoder (spec §2): a MONAI-style ViT with a "perceptron" patch embedding, a CLS token that
/// carries no position, and pre-LN blocks (LayerNorm eps 1e-5, qkv without bias, exact-erf GELU). Med-2E3 uses the
/// output of the LAST block BEFORE the final <c>norm</c>, with the CLS token dropped (spec §2.2 steps 6–7), so the
/// final norm is not loaded. Checkpoint keys: <c>vision_encoder.*</c> of <c>vision3d_model</c>.
/// </summary>
public sealed class ViT3D
{
    private ViT3D(M3dClipConfig config, Tensor clsToken, ViT3DPatchEmbedding patchEmbedding, ViT3DBlock[] blocks)
    {
        Config = config;
        ClsToken = clsToken;
        PatchEmbedding = patchEmbedding;
        Blocks = blocks;
    }

    public M3dClipConfig Config { get; }

    /// <summary><c>cls_token</c> (1, 1, C).</summary>
    public Tensor ClsToken { get; }

    /// <summary><c>patch_embedding.*</c>.</summary>
    public ViT3DPatchEmbedding PatchEmbedding { get; }

    /// <summary><c>blocks.{i}.*</c>.</summary>
    public ViT3DBlock[] Blocks { get; }

    /// <summary>Loads the encoder from a loader positioned at <c>vision_encoder.</c>.</summary>
    public static ViT3D Load(WeightLoader w, M3dClipConfig config)
    {
        int c = config.HiddenSize;
        var cls = w.Take("cls_token", 1, 1, c);
        var patch = ViT3DPatchEmbedding.Load(w.Sub("patch_embedding."), config);
        var blocks = new ViT3DBlock[config.NumLayers];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = ViT3DBlock.Load(w.Sub($"blocks.{i}."), config);
        }
        return new ViT3D(config, cls, patch, blocks);
    }

    /// <summary>
    /// Volume (B, 1, D, Hi, W) → patch features (B, N, C), N = gz·gy·gx in (z, y, x) raster order: the output of the
    /// last block, before the final LayerNorm, CLS dropped.
    /// </summary>
    public Tensor Forward(Tensor volume)
    {
        using var scope = TensorScope.Begin();
        int b = volume.Dim(0), c = Config.HiddenSize, n = Config.NumPatches;
        var patches = PatchEmbedding.Forward(volume);                        // (B, N, C), positions added
        var cls = ClsToken.Expand(b, 1, c);                                  // (B, 1, C), no position (§2.2 step 4)
        var x = F.Concat(1, cls, patches);                                   // (B, 1 + N, C)
        foreach (var block in Blocks)
        {
            x = block.Forward(x);                                            // (B, 1 + N, C)
        }
        return scope.Keep(x.Narrow(1, 1, n));                                // (B, N, C), CLS dropped
    }
}

/// <summary>
/// MONAI <c>PatchEmbeddingBlock</c> with <c>proj_type="perceptron"</c> (spec §2.2 steps 1–3): patches flattened as
/// (pz, py, px, c) with px fastest, tokens in (z, y, x) order, then Linear(P→C) (key <c>patch_embeddings.1</c>,
/// index 0 is the parameter-free rearrange) plus learned <c>position_embeddings</c> (1, N, C).
/// </summary>
public sealed class ViT3DPatchEmbedding
{
    private ViT3DPatchEmbedding(int[] patchSize, Linear projection, Tensor positionEmbeddings)
    {
        PatchSize = patchSize;
        Projection = projection;
        PositionEmbeddings = positionEmbeddings;
    }

    /// <summary>(pz, py, px).</summary>
    public int[] PatchSize { get; }

    /// <summary><c>patch_embeddings.1</c>: Linear(pz·py·px·Cin → C).</summary>
    public Linear Projection { get; }

    /// <summary><c>position_embeddings</c> (1, N, C).</summary>
    public Tensor PositionEmbeddings { get; }

    public static ViT3DPatchEmbedding Load(WeightLoader w, M3dClipConfig config) =>
        new((int[])config.PatchSize.Clone(),
            Linear.Load(w, "patch_embeddings.1", config.PatchVectorLength, config.HiddenSize),
            w.Take("position_embeddings", 1, config.NumPatches, config.HiddenSize));

    /// <summary>(B, Cin, D, Hi, W) → (B, N, C).</summary>
    public Tensor Forward(Tensor volume)
    {
        using var scope = TensorScope.Begin();
        var p = F.Patchify3d(volume, PatchSize[0], PatchSize[1], PatchSize[2]); // (B, N, pz·py·px·Cin)
        var e = Projection.Forward(p);                                          // (B, N, C)
        return scope.Keep(F.Add(e, PositionEmbeddings));                        // (B, N, C)
    }
}

/// <summary>
/// One pre-LN transformer block of the M3D ViT (spec §2.2 step 5):
/// x = x + out_proj(MHA(norm1(x))) with qkv = norm1(x)·W_qkvᵀ (no bias, [Q;K;V], head j at features j·Dh…);
/// x = x + linear2(GELU(linear1(norm2(x)))).
/// </summary>
public sealed class ViT3DBlock
{
    private ViT3DBlock(int heads, LayerNorm norm1, Linear qkv, Linear outProj, LayerNorm norm2, Linear linear1,
        Linear linear2)
    {
        Heads = heads;
        Norm1 = norm1;
        Qkv = qkv;
        OutProj = outProj;
        Norm2 = norm2;
        Linear1 = linear1;
        Linear2 = linear2;
    }

    public int Heads { get; }

    /// <summary><c>norm1</c>.</summary>
    public LayerNorm Norm1 { get; }

    /// <summary><c>attn.qkv</c> (no bias).</summary>
    public Linear Qkv { get; }

    /// <summary><c>attn.out_proj</c>.</summary>
    public Linear OutProj { get; }

    /// <summary><c>norm2</c>.</summary>
    public LayerNorm Norm2 { get; }

    /// <summary><c>mlp.linear1</c>.</summary>
    public Linear Linear1 { get; }

    /// <summary><c>mlp.linear2</c>.</summary>
    public Linear Linear2 { get; }

    public static ViT3DBlock Load(WeightLoader w, M3dClipConfig config)
    {
        int c = config.HiddenSize;
        double eps = config.LayerNormEps;
        return new ViT3DBlock(config.NumHeads,
            LayerNorm.Load(w, "norm1", c, eps),
            Linear.Load(w, "attn.qkv", c, 3 * c, bias: false),
            Linear.Load(w, "attn.out_proj", c, c),
            LayerNorm.Load(w, "norm2", c, eps),
            Linear.Load(w, "mlp.linear1", c, config.MlpDim),
            Linear.Load(w, "mlp.linear2", config.MlpDim, c));
    }

    /// <summary>(B, T, C) → (B, T, C).</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = TensorScope.Begin();
        int c = x.Dim(2), dh = c / Heads;
        var h = Norm1.Forward(x);                                                    // (B, T, C)
        var qkv = Qkv.Forward(h);                                                    // (B, T, 3C)
        var q = AttentionHeads.Split(qkv.Narrow(2, 0, c), Heads, dh);               // (B, H, T, Dh)
        var k = AttentionHeads.Split(qkv.Narrow(2, c, c), Heads, dh);               // (B, H, T, Dh)
        var v = AttentionHeads.Split(qkv.Narrow(2, 2 * c, c), Heads, dh);           // (B, H, T, Dh)
        var o = F.Attention(q, k, v);                                                // (B, H, T, Dh), scale Dh^−½
        var merged = AttentionHeads.Merge(o);                                        // (B, T, C), heads concatenated
        x = F.Add(x, OutProj.Forward(merged));                                       // (B, T, C)
        var m = Linear1.Forward(Norm2.Forward(x));                                   // (B, T, mlp)
        x = F.Add(x, Linear2.Forward(F.Gelu(m)));                                    // (B, T, C)
        return scope.Keep(x);
    }
}
