namespace Med2E3.Native.Tensors;

/// <summary>
/// Kernel-level entry points of one device. <c>F</c> (in Ops) validates shapes, allocates outputs on the
/// input's device, asks <see cref="Supports"/> and then calls one of these methods; autograd is handled above.
/// Conventions: every tensor is on this backend's device; "contiguous" means dense row-major from its offset;
/// outputs are always contiguous and freshly allocated unless stated; float outputs have the input's dtype;
/// saved statistics (mean, rstd, lse) are F32 (F64 for F64 inputs). Methods a backend has not implemented yet
/// throw <see cref="NotSupportedOnBackendException"/>.
/// </summary>
public interface IBackend
{
    /// <summary>Backend name for messages ("cpu", "cpu-reference", "cuda").</summary>
    string Name { get; }

    /// <summary>Device kind served.</summary>
    DeviceKind DeviceKind { get; }

    /// <summary>True when <paramref name="op"/> runs for <paramref name="dtype"/> on this backend.</summary>
    bool Supports(OpKind op, DType dtype);

    /// <summary>Allocates uninitialised storage of <paramref name="bytes"/> on <paramref name="device"/>.</summary>
    Storage Allocate(long bytes, Device device);

    /// <summary>Copies raw host bytes into a contiguous tensor.</summary>
    void CopyFromHost(ReadOnlySpan<byte> src, Tensor dst);

    /// <summary>Copies a contiguous tensor into host bytes.</summary>
    void CopyToHost(Tensor src, Span<byte> dst);

    /// <summary>dst[i] = cast(src[i]); same shape, any strides on both sides (dst must not self-overlap).</summary>
    void Copy(Tensor src, Tensor dst);

    /// <summary>Sets every element of dst (any strides) to <paramref name="value"/>.</summary>
    void Fill(Tensor dst, double value);

    /// <summary>y = f(x); x, y contiguous, same shape.</summary>
    void Unary(UnaryOp op, Tensor x, Tensor y) => throw Unsupported(OpKind.Gelu, x.DType);

    /// <summary>dx = f'(x)·dy; all contiguous, same shape.</summary>
    void UnaryBackward(UnaryOp op, Tensor x, Tensor dy, Tensor dx) => throw Unsupported(OpKind.Gelu, x.DType);

    /// <summary>y = a ∘ b; a and b are views already expanded to y's shape (zero strides allowed).</summary>
    void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y) => throw Unsupported(OpKind.Add, a.DType);

    /// <summary>y = alpha·x + beta; x, y contiguous.</summary>
    void Scale(Tensor x, double alpha, double beta, Tensor y) => throw Unsupported(OpKind.Scale, x.DType);

    /// <summary>x contiguous viewed as (Outer, R, Inner) → y (Outer, Inner): sum or mean over R.</summary>
    void Reduce(ReduceOp op, Tensor x, int outer, int r, int inner, Tensor y) => throw Unsupported(OpKind.Sum, x.DType);

    /// <summary>
    /// c = alpha·op(a)·op(b) + beta·c + bias. a is (Ba, M, K), or (Ba, K, M) when <paramref name="transA"/>;
    /// b is (Bb, K, N), or (Bb, N, K) when <paramref name="transB"/>; Ba, Bb ∈ {1, B}; c (B, M, N);
    /// bias (N) or null. a and b contiguous. With beta = 0 the old content of c is ignored (may be NaN).
    /// </summary>
    void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor? bias, double alpha, double beta)
        => throw Unsupported(OpKind.MatMul, a.DType);

    /// <summary>gu (N, 2F) → a (N, F): a = gu[:, F:] ⊙ silu(gu[:, :F]).</summary>
    void GatedSilu(Tensor gu, Tensor a) => throw Unsupported(OpKind.GatedSilu, gu.DType);

    /// <summary>Gradient of <see cref="GatedSilu"/>: dgu (N, 2F) from gu and da (N, F).</summary>
    void GatedSiluBackward(Tensor gu, Tensor da, Tensor dgu) => throw Unsupported(OpKind.GatedSilu, gu.DType);

    /// <summary>
    /// Softmax over the last axis of x viewed as (B, R, Tq, Tk). keyMask (B, Tk) is added to every row of batch b;
    /// causal masks key j &gt; i + (Tk − Tq) for query i. A row with no finite logit yields zeros.
    /// </summary>
    void Softmax(Tensor x, Tensor? keyMask, bool causal, int batch, int tq, Tensor y)
        => throw Unsupported(OpKind.Softmax, x.DType);

    /// <summary>dx = y ⊙ (dy − Σ y·dy) per row; contiguous (N, Tk).</summary>
    void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx) => throw Unsupported(OpKind.Softmax, y.DType);

    /// <summary>x (N, C) → y; mean, rstd (N) saved; w, b (C) optional.</summary>
    void LayerNorm(Tensor x, Tensor? w, Tensor? b, double eps, Tensor y, Tensor mean, Tensor rstd)
        => throw Unsupported(OpKind.LayerNorm, x.DType);

    /// <summary>LayerNorm gradients; dw and db (C) are overwritten when not null.</summary>
    void LayerNormBackward(Tensor x, Tensor? w, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw, Tensor? db)
        => throw Unsupported(OpKind.LayerNorm, x.DType);

    /// <summary>
    /// x (N, C) → y = x·rstd·w; rstd (N) = 1/√(mean(x²)+eps) saved. For BF16/F16 inputs h = x·rstd is computed in
    /// f32 and rounded to the input dtype before the weight multiply (transformers' Phi3RMSNorm), so y is rounded twice.
    /// </summary>
    void RmsNorm(Tensor x, Tensor? w, double eps, Tensor y, Tensor rstd) => throw Unsupported(OpKind.RmsNorm, x.DType);

    /// <summary>RMSNorm gradients; dw (C) overwritten when not null.</summary>
    void RmsNormBackward(Tensor x, Tensor? w, Tensor rstd, Tensor dy, Tensor dx, Tensor? dw)
        => throw Unsupported(OpKind.RmsNorm, x.DType);

    /// <summary>y[n, :] = table[ids[n], :]; ids I32/I64 (N), table (V, C), y (N, C).</summary>
    void Embedding(Tensor table, Tensor ids, Tensor y) => throw Unsupported(OpKind.Embedding, table.DType);

    /// <summary>dtable (V, C) = 0, then dtable[ids[n], :] += dy[n, :].</summary>
    void EmbeddingBackward(Tensor ids, Tensor dy, Tensor dtable) => throw Unsupported(OpKind.Embedding, dy.DType);

    /// <summary>
    /// Rotary embedding on x (R, T, Dh): y = x⊙cos + rotate_half(x)⊙sin with cos, sin (T, Dh);
    /// <paramref name="backward"/> applies the transpose (the gradient map).
    /// </summary>
    void Rope(Tensor x, Tensor cos, Tensor sin, Tensor y, bool backward) => throw Unsupported(OpKind.Rope, x.DType);

    /// <summary>
    /// o = softmax(q·kᵀ·scale + keyMask, causal)·v per (batch, head). q (B, H, Tq, Dh), k and v (B, H, Tk, Dh) with
    /// unit stride on the last axis (other strides arbitrary); keyMask (B, Tk) additive or null; causal aligns
    /// the last query with the last key. o (B, H, Tq, Dh) contiguous; lse (B, H, Tq) the log-sum-exp per row.
    /// </summary>
    void Attention(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o, Tensor lse)
        => throw Unsupported(OpKind.Attention, q.DType);

    /// <summary>Attention gradients dq, dk, dv (contiguous, shapes of q, k, v).</summary>
    void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, bool causal, double scale, Tensor o,
        Tensor lse, Tensor dO, Tensor dq, Tensor dk, Tensor dv) => throw Unsupported(OpKind.Attention, q.DType);

    /// <summary>x (B, Ci, D, Hi, W), w (Co, Ci, Kd, Kh, Kw), bias (Co) → y (B, Co, Do, Ho, Wo); zero padding.</summary>
    void Conv3d(Tensor x, Tensor w, Tensor? bias, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding, Tensor y)
        => throw Unsupported(OpKind.Conv3d, x.DType);

    /// <summary>Conv3d gradients; each of dx, dw, db is overwritten when not null.</summary>
    void Conv3dBackward(Tensor x, Tensor w, Tensor dy, ReadOnlySpan<int> stride, ReadOnlySpan<int> padding,
        Tensor? dx, Tensor? dw, Tensor? db) => throw Unsupported(OpKind.Conv3d, x.DType);

    /// <summary>x (B, C, D, Hi, W) → y (B, C, Do, Ho, Wo): mean of each window, no padding.</summary>
    void AvgPool3d(Tensor x, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor y)
        => throw Unsupported(OpKind.AvgPool3d, x.DType);

    /// <summary>dx (zeroed then accumulated) from dy.</summary>
    void AvgPool3dBackward(Tensor dy, ReadOnlySpan<int> kernel, ReadOnlySpan<int> stride, Tensor dx)
        => throw Unsupported(OpKind.AvgPool3d, dy.DType);

    /// <summary>
    /// x (B, C, D, Hi, W) contiguous, crop (z0, z1, y0, y1, x0, x1) → y (B, C, Do, Ho, Wo) contiguous: trilinear
    /// resize of the crop with align_corners = False (see <c>Ops/Resize.cs</c>).
    /// </summary>
    void ResizeTrilinear3d(Tensor x, ReadOnlySpan<int> crop, Tensor y) => throw Unsupported(OpKind.ResizeTrilinear3d, x.DType);

    /// <summary>x (Outer, N, Inner), ids (M) → y (Outer, M, Inner).</summary>
    void IndexSelect(Tensor x, Tensor ids, int outer, int n, int inner, Tensor y)
        => throw Unsupported(OpKind.IndexSelect, x.DType);

    /// <summary>dx (Outer, N, Inner) = 0, then dx[:, ids[m], :] += dy[:, m, :].</summary>
    void IndexAdd(Tensor dy, Tensor ids, int outer, int n, int inner, Tensor dx)
        => throw Unsupported(OpKind.IndexSelect, dy.DType);

    /// <summary>x (Outer, N, Inner), index (Outer, M, Inner) → y[o, m, i] = x[o, index[o, m, i], i].</summary>
    void Gather(Tensor x, Tensor index, int outer, int n, int m, int inner, Tensor y)
        => throw Unsupported(OpKind.Gather, x.DType);

    /// <summary>dx (Outer, N, Inner) = 0, then dx[o, index[o, m, i], i] += dy[o, m, i].</summary>
    void ScatterAdd(Tensor dy, Tensor index, int outer, int n, int m, int inner, Tensor dx)
        => throw Unsupported(OpKind.Gather, dy.DType);

    /// <summary>
    /// logits (N, V), targets I64 (N) → losses (N) = lse − logit[target] (0 where target = ignoreIndex), lse (N).
    /// </summary>
    void CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex, Tensor losses, Tensor lse)
        => throw Unsupported(OpKind.CrossEntropy, logits.DType);

    /// <summary>dlogits[n, :] = dLoss[n]·(softmax(logits[n]) − onehot(target[n])), zero rows where ignored.</summary>
    void CrossEntropyBackward(Tensor logits, Tensor targets, long ignoreIndex, Tensor lse, Tensor dLoss, Tensor dlogits)
        => throw Unsupported(OpKind.CrossEntropy, logits.DType);

    /// <summary>x (N, V) → y I64 (N): index of the first maximum.</summary>
    void Argmax(Tensor x, Tensor y) => throw Unsupported(OpKind.Argmax, x.DType);

    /// <summary>x (N, V) → values (N, k) descending, indices I64 (N, k); ties keep the lower index first.</summary>
    void TopK(Tensor x, int k, Tensor values, Tensor indices) => throw Unsupported(OpKind.TopK, x.DType);

    /// <summary>
    /// Seeded temperature / top-k / top-p sampling of one token from logits (V) with the host's uniform draw
    /// <paramref name="u"/> (semantics: <c>Sampling.SampleReference</c>); −1 when a logit is NaN or +inf or none is
    /// finite.
    /// </summary>
    int SampleTopP(Tensor logits, double temperature, int topK, double topP, double u)
        => throw Unsupported(OpKind.SampleTopP, logits.DType);

    /// <summary>In-place AdamW step on contiguous param, grad, m, v of equal shape.</summary>
    void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWParams p) => throw Unsupported(OpKind.AdamW, param.DType);

    /// <summary>Σ x² over a contiguous tensor, accumulated in double.</summary>
    double SumOfSquares(Tensor x) => throw Unsupported(OpKind.ClipGradNorm, x.DType);

    /// <summary>Builds the exception thrown for an op this backend lacks.</summary>
    NotSupportedOnBackendException Unsupported(OpKind op, DType dtype) => new(Name, op, dtype, "not implemented on this backend");
}
