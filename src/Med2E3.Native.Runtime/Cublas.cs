using Med2E3.Native.Interop;
using static Med2E3.Native.Interop.Interop.Cublas;
using static Med2E3.Native.Interop.Interop.CublasLt;
using static Med2E3.Native.Runtime.CudaCheck;

namespace Med2E3.Native.Runtime;

/// <summary>
/// cuBLAS and cuBLASLt for one device, with row-major helpers. cuBLAS is column-major; a row-major matrix is the
/// transpose of the same bytes read column-major, so C = op(A)·op(B) row-major is computed as
/// Cᵀ = op(B)ᵀ·op(A)ᵀ column-major by swapping the operands. Accumulation is f32 for every input type; f32 inputs use
/// true f32 math unless <see cref="AllowTf32"/> is set. Obtain it from <see cref="CudaDevice.Cublas"/>.
/// </summary>
public sealed class Cublas : IDisposable
{
    /// <summary>Workspace given to cuBLAS and cuBLASLt (also makes graph capture allocation-free).</summary>
    public const long WorkspaceBytes = 32L << 20;

    private readonly SafeCublasHandle _handle = new();
    private readonly SafeCublasLtHandle _lt = new();
    private readonly DeviceBuffer _workspace;
    private readonly object _gate = new();
    private readonly Dictionary<LtKey, LtPlan> _plans = [];
    private bool _disposed;

    internal Cublas(CudaDevice device)
    {
        if (!CublasRuntime.IsAvailable)
        {
            throw new CudaUnavailableException($"cuBLAS is not available: {CublasRuntime.UnavailableReason}");
        }

        Device = device;
        device.MakeCurrent();
        Check(cublasCreate(out nint handle));
        _handle.DangerousAttach(handle);
        Check(cublasLtCreate(out nint lt));
        _lt.DangerousAttach(lt);
        Check(cublasGetVersion(handle, out int version));
        Version = version;
        _workspace = device.Pool.Rent(WorkspaceBytes);
        Check(cublasSetWorkspace(handle, _workspace.Pointer, (nuint)WorkspaceBytes));
        Check(cublasSetMathMode(handle, cublasMath_t.CUBLAS_DEFAULT_MATH));
    }

    /// <summary>The device.</summary>
    public CudaDevice Device { get; }

    /// <summary>cuBLAS version, e.g. 130000.</summary>
    public int Version { get; }

    /// <summary>Let f32 GEMMs use TF32 tensor cores (10-bit mantissa inputs). Off by default.</summary>
    public bool AllowTf32 { get; set; }

    /// <summary>
    /// y = alpha·x·Wᵀ + beta·y, all row-major contiguous: x (M, K), W (N, K), y (M, N). This is a linear layer.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type of x, W and y.</param>
    /// <param name="x">Device pointer to x.</param>
    /// <param name="w">Device pointer to W.</param>
    /// <param name="y">Device pointer to y.</param>
    /// <param name="m">Rows of x and y.</param>
    /// <param name="n">Rows of W, columns of y.</param>
    /// <param name="k">Columns of x and W.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="beta">Scale of the existing y (0 ignores its contents).</param>
    public void MatMulTransB(
        CudaStream stream, GemmDataType type, ulong x, ulong w, ulong y, int m, int n, int k,
        float alpha = 1f, float beta = 0f) =>
        Gemm(stream, type, false, true, m, n, k, alpha, x, k, w, k, beta, y, n);

    /// <summary>C = alpha·A·B + beta·C, all row-major contiguous: A (M, K), B (K, N), C (M, N).</summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type.</param>
    /// <param name="a">Device pointer to A.</param>
    /// <param name="b">Device pointer to B.</param>
    /// <param name="c">Device pointer to C.</param>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="n">Columns of B and C.</param>
    /// <param name="k">Columns of A, rows of B.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="beta">Scale of the existing C.</param>
    public void MatMul(
        CudaStream stream, GemmDataType type, ulong a, ulong b, ulong c, int m, int n, int k,
        float alpha = 1f, float beta = 0f) =>
        Gemm(stream, type, false, false, m, n, k, alpha, a, k, b, n, beta, c, n);

    /// <summary>
    /// General row-major GEMM: C (M, N) = alpha·op(A)·op(B) + beta·C, where op(A) is (M, K) and op(B) is (K, N).
    /// A is stored (M, K) with row stride <paramref name="lda"/>, or (K, M) when <paramref name="transposeA"/>;
    /// likewise B is (K, N) or (N, K).
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type.</param>
    /// <param name="transposeA">Use Aᵀ.</param>
    /// <param name="transposeB">Use Bᵀ.</param>
    /// <param name="m">Rows of C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">Device pointer to A.</param>
    /// <param name="lda">Row stride of A in elements.</param>
    /// <param name="b">Device pointer to B.</param>
    /// <param name="ldb">Row stride of B in elements.</param>
    /// <param name="beta">Scale of the existing C.</param>
    /// <param name="c">Device pointer to C.</param>
    /// <param name="ldc">Row stride of C in elements.</param>
    public unsafe void Gemm(
        CudaStream stream, GemmDataType type, bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ulong a, int lda, ulong b, int ldb, float beta, ulong c, int ldc)
    {
        ValidateShape(m, n, k, transposeA, transposeB, lda, ldb, ldc);
        cudaDataType dt = DataType(type);
        lock (_gate)
        {
            Prepare(stream);
            Check(cublasGemmEx(
                _handle.DangerousGetHandle(), Op(transposeB), Op(transposeA), n, m, k,
                &alpha, b, dt, ldb, a, dt, lda, &beta, c, dt, ldc,
                ComputeType(UsesTf32(type)), cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT));
        }
    }

    /// <summary>
    /// Strided batched row-major GEMM: for each i &lt; <paramref name="batchCount"/>,
    /// C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i], where X[i] starts at X + i·strideX elements. Layout rules as in
    /// <see cref="Gemm"/>. A stride of 0 reuses one matrix for every batch.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type.</param>
    /// <param name="transposeA">Use Aᵀ.</param>
    /// <param name="transposeB">Use Bᵀ.</param>
    /// <param name="m">Rows of each C.</param>
    /// <param name="n">Columns of each C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">Device pointer to A[0].</param>
    /// <param name="lda">Row stride of A in elements.</param>
    /// <param name="strideA">Elements between A[i] and A[i+1].</param>
    /// <param name="b">Device pointer to B[0].</param>
    /// <param name="ldb">Row stride of B in elements.</param>
    /// <param name="strideB">Elements between B[i] and B[i+1].</param>
    /// <param name="beta">Scale of the existing C.</param>
    /// <param name="c">Device pointer to C[0].</param>
    /// <param name="ldc">Row stride of C in elements.</param>
    /// <param name="strideC">Elements between C[i] and C[i+1].</param>
    /// <param name="batchCount">Number of products.</param>
    public unsafe void GemmStridedBatched(
        CudaStream stream, GemmDataType type, bool transposeA, bool transposeB, int m, int n, int k,
        float alpha, ulong a, int lda, long strideA, ulong b, int ldb, long strideB,
        float beta, ulong c, int ldc, long strideC, int batchCount)
    {
        ValidateShape(m, n, k, transposeA, transposeB, lda, ldb, ldc);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchCount);
        cudaDataType dt = DataType(type);
        lock (_gate)
        {
            Prepare(stream);
            Check(cublasGemmStridedBatchedEx(
                _handle.DangerousGetHandle(), Op(transposeB), Op(transposeA), n, m, k,
                &alpha, b, dt, ldb, strideB, a, dt, lda, strideA, &beta, c, dt, ldc, strideC,
                batchCount, ComputeType(UsesTf32(type)), cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT));
        }
    }

    /// <summary>
    /// Contiguous batched row-major product: C[i] (M, N) = alpha·A[i]·op(B[i]) for i &lt; batch, where A is
    /// (batch, M, K), B is (batch, K, N) or (batch, N, K) when <paramref name="transposeB"/>, C is (batch, M, N).
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type.</param>
    /// <param name="a">Device pointer to A.</param>
    /// <param name="b">Device pointer to B.</param>
    /// <param name="c">Device pointer to C.</param>
    /// <param name="batch">Number of products.</param>
    /// <param name="m">Rows of each A and C.</param>
    /// <param name="n">Columns of each C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="transposeB">B holds (N, K) matrices.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="beta">Scale of the existing C.</param>
    public void MatMulBatched(
        CudaStream stream, GemmDataType type, ulong a, ulong b, ulong c, int batch, int m, int n, int k,
        bool transposeB = false, float alpha = 1f, float beta = 0f) =>
        GemmStridedBatched(
            stream, type, false, transposeB, m, n, k, alpha,
            a, k, (long)m * k, b, transposeB ? k : n, (long)k * n, beta, c, n, (long)m * n, batch);

    /// <summary>
    /// cuBLASLt linear layer with a fused epilogue: y = epilogue(x·Wᵀ + b), row-major contiguous x (M, K), W (N, K),
    /// b (N), y (M, N). The bias has the element type of y. <see cref="GemmEpilogue.GeluBias"/> uses cuBLASLt's tanh
    /// approximation of GELU.
    /// </summary>
    /// <param name="stream">The stream.</param>
    /// <param name="type">Element type of x, W, b and y.</param>
    /// <param name="x">Device pointer to x.</param>
    /// <param name="w">Device pointer to W.</param>
    /// <param name="bias">Device pointer to b (ignored for <see cref="GemmEpilogue.None"/>).</param>
    /// <param name="y">Device pointer to y.</param>
    /// <param name="m">Rows of x and y.</param>
    /// <param name="n">Output features.</param>
    /// <param name="k">Input features.</param>
    /// <param name="epilogue">What to apply after the product.</param>
    public unsafe void LinearEpilogue(
        CudaStream stream, GemmDataType type, ulong x, ulong w, ulong bias, ulong y, int m, int n, int k,
        GemmEpilogue epilogue)
    {
        ValidateShape(m, n, k, false, true, k, k, n);
        if (epilogue != GemmEpilogue.None && bias == 0)
        {
            throw new ArgumentException($"epilogue {epilogue} needs a bias pointer", nameof(bias));
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Device.MakeCurrent();
            int alignment = Math.Min(Alignment(x), Math.Min(Alignment(w), Math.Min(Alignment(y), Alignment(bias))));
            var key = new LtKey(type, m, n, k, epilogue, UsesTf32(type), alignment);
            if (!_plans.TryGetValue(key, out LtPlan? plan))
            {
                plan = LtPlan.Create(_lt.DangerousGetHandle(), key, bias);
                _plans[key] = plan;
            }

            if (epilogue != GemmEpilogue.None)
            {
                ulong biasPointer = bias;
                Check(cublasLtMatmulDescSetAttribute(
                    plan.Desc.DangerousGetHandle(), cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                    &biasPointer, sizeof(ulong)));
            }

            float alpha = 1f;
            float beta = 0f;
            cublasLtMatmulAlgo_t algo = plan.Algo;
            Check(cublasLtMatmul(
                _lt.DangerousGetHandle(), plan.Desc.DangerousGetHandle(), &alpha,
                w, plan.WLayout.DangerousGetHandle(), x, plan.XLayout.DangerousGetHandle(), &beta,
                y, plan.YLayout.DangerousGetHandle(), y, plan.YLayout.DangerousGetHandle(),
                &algo, _workspace.Pointer, (nuint)WorkspaceBytes, stream.Handle));
        }
    }

    /// <summary>Destroys the handles and returns the workspace to the pool.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (LtPlan plan in _plans.Values)
            {
                plan.Dispose();
            }

            _plans.Clear();
            _lt.Dispose();
            _handle.Dispose();
            _workspace.Dispose();
        }
    }

    internal static cudaDataType DataType(GemmDataType type) => type switch
    {
        GemmDataType.F32 => cudaDataType.CUDA_R_32F,
        GemmDataType.BF16 => cudaDataType.CUDA_R_16BF,
        GemmDataType.F16 => cudaDataType.CUDA_R_16F,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown GEMM data type"),
    };

    private bool UsesTf32(GemmDataType type) => type == GemmDataType.F32 && AllowTf32;

    private static cublasComputeType_t ComputeType(bool tf32) =>
        tf32 ? cublasComputeType_t.CUBLAS_COMPUTE_32F_FAST_TF32 : cublasComputeType_t.CUBLAS_COMPUTE_32F;

    private void Prepare(CudaStream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReferenceEquals(stream.Device, Device))
        {
            throw new ArgumentException("the stream belongs to another device", nameof(stream));
        }

        Device.MakeCurrent();
        Check(cublasSetStream(_handle.DangerousGetHandle(), stream.Handle));
    }

    private static cublasOperation_t Op(bool transpose) =>
        transpose ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N;

    private static int Alignment(ulong pointer) => pointer == 0 ? 256 : (int)Math.Min(256UL, pointer & (~pointer + 1));

    private static void ValidateShape(int m, int n, int k, bool transposeA, bool transposeB, int lda, int ldb, int ldc)
    {
        if (m <= 0 || n <= 0 || k <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be positive, got M={m} N={n} K={k}");
        }

        int minLda = transposeA ? m : k;
        int minLdb = transposeB ? k : n;
        if (lda < minLda || ldb < minLdb || ldc < n)
        {
            throw new ArgumentOutOfRangeException(
                nameof(lda),
                $"row strides too small for M={m} N={n} K={k}: lda={lda} (≥{minLda}), ldb={ldb} (≥{minLdb}), ldc={ldc} (≥{n})");
        }
    }

    private readonly record struct LtKey(
        GemmDataType Type, int M, int N, int K, GemmEpilogue Epilogue, bool Tf32, int Alignment);

    private sealed class LtPlan : IDisposable
    {
        private LtPlan(
            SafeCublasLtMatmulDescHandle desc, SafeCublasLtMatrixLayoutHandle wLayout,
            SafeCublasLtMatrixLayoutHandle xLayout, SafeCublasLtMatrixLayoutHandle yLayout, cublasLtMatmulAlgo_t algo)
        {
            Desc = desc;
            WLayout = wLayout;
            XLayout = xLayout;
            YLayout = yLayout;
            Algo = algo;
        }

        public SafeCublasLtMatmulDescHandle Desc { get; }

        public SafeCublasLtMatrixLayoutHandle WLayout { get; }

        public SafeCublasLtMatrixLayoutHandle XLayout { get; }

        public SafeCublasLtMatrixLayoutHandle YLayout { get; }

        public cublasLtMatmulAlgo_t Algo { get; }

        // Column-major view: Yᵀ (N, M) = op(W as (K, N))ᵀ … i.e. D = Wᵀᵀ·Xᵀ with W read as a K×N column-major
        // matrix and transposed, X read as K×M column-major, D written as N×M column-major (= y row-major).
        public static unsafe LtPlan Create(nint lt, LtKey key, ulong bias)
        {
            cudaDataType dt = DataType(key.Type);
            cublasComputeType_t compute = ComputeType(key.Tf32);
            var desc = new SafeCublasLtMatmulDescHandle();
            var wLayout = new SafeCublasLtMatrixLayoutHandle();
            var xLayout = new SafeCublasLtMatrixLayoutHandle();
            var yLayout = new SafeCublasLtMatrixLayoutHandle();
            var preference = new SafeCublasLtPreferenceHandle();
            try
            {
                Check(cublasLtMatmulDescCreate(out nint d, compute, cudaDataType.CUDA_R_32F));
                desc.DangerousAttach(d);
                int transA = (int)cublasOperation_t.CUBLAS_OP_T;
                int transB = (int)cublasOperation_t.CUBLAS_OP_N;
                Check(cublasLtMatmulDescSetAttribute(
                    d, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_TRANSA, &transA, sizeof(int)));
                Check(cublasLtMatmulDescSetAttribute(
                    d, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_TRANSB, &transB, sizeof(int)));
                uint epilogue = (uint)(key.Epilogue switch
                {
                    GemmEpilogue.Bias => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_BIAS,
                    GemmEpilogue.GeluBias => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_GELU_BIAS,
                    _ => cublasLtEpilogue_t.CUBLASLT_EPILOGUE_DEFAULT,
                });
                Check(cublasLtMatmulDescSetAttribute(
                    d, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(uint)));
                if (key.Epilogue != GemmEpilogue.None)
                {
                    ulong biasPointer = bias;
                    Check(cublasLtMatmulDescSetAttribute(
                        d, cublasLtMatmulDescAttributes_t.CUBLASLT_MATMUL_DESC_BIAS_POINTER, &biasPointer, sizeof(ulong)));
                }

                Check(cublasLtMatrixLayoutCreate(out nint wl, dt, (ulong)key.K, (ulong)key.N, key.K));
                wLayout.DangerousAttach(wl);
                Check(cublasLtMatrixLayoutCreate(out nint xl, dt, (ulong)key.K, (ulong)key.M, key.K));
                xLayout.DangerousAttach(xl);
                Check(cublasLtMatrixLayoutCreate(out nint yl, dt, (ulong)key.N, (ulong)key.M, key.N));
                yLayout.DangerousAttach(yl);

                Check(cublasLtMatmulPreferenceCreate(out nint p));
                preference.DangerousAttach(p);
                ulong workspace = (ulong)WorkspaceBytes;
                Check(cublasLtMatmulPreferenceSetAttribute(
                    p, cublasLtMatmulPreferenceAttributes_t.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                    &workspace, sizeof(ulong)));
                cublasLtMatmulHeuristicResult_t result = default;
                Check(cublasLtMatmulAlgoGetHeuristic(lt, d, wl, xl, yl, yl, p, 1, &result, out int found));
                if (found == 0)
                {
                    throw new CudaException(
                        $"cuBLASLt has no algorithm for {key.Type} M={key.M} N={key.N} K={key.K} epilogue {key.Epilogue}",
                        CublasLibrary, (int)cublasStatus_t.CUBLAS_STATUS_NOT_SUPPORTED, "CUBLAS_STATUS_NOT_SUPPORTED",
                        "cublasLtMatmulAlgoGetHeuristic");
                }

                return new LtPlan(desc, wLayout, xLayout, yLayout, result.algo);
            }
            catch
            {
                desc.Dispose();
                wLayout.Dispose();
                xLayout.Dispose();
                yLayout.Dispose();
                throw;
            }
            finally
            {
                preference.Dispose();
            }
        }

        public void Dispose()
        {
            Desc.Dispose();
            WLayout.Dispose();
            XLayout.Dispose();
            YLayout.Dispose();
        }
    }
}
