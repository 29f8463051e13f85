using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>Which dtype an output of an op case has.</summary>
internal enum OutKind
{
    /// <summary>The dtype of the op's float inputs (f32, bf16; f64 in the oracle run).</summary>
    Data,

    /// <summary>Saved statistics: f32 (f64 in the oracle run).</summary>
    Stat,

    /// <summary>Indices: always i64, compared exactly.</summary>
    I64,
}

/// <summary>One output of an op case.</summary>
internal sealed record OutSpec(int[] Shape, OutKind Kind = OutKind.Data, Check Tol = Check.Nmse);

/// <summary>
/// Runs one backend method on the CUDA backend and on the CPU backend from the same seeded inputs and compares with
/// the shared rules of <see cref="Conformance"/> (STYLE.md §9): f32 against the CPU reference loops at f32; bf16
/// against a float64 oracle (the CPU reference on the bf16 inputs widened exactly to f64), where the CUDA NMSE may be
/// at most twice the CPU's own bf16 NMSE. Statistics (mean, rstd, lse) are f32 in both runs and compared with the
/// f32 NMSE rule against the oracle. CUDA outputs are allocated here between canary guard bands
/// (<see cref="GuardBands"/>), so an out-of-bounds write fails the case naming the op, the output and the side; every
/// storage the backend rents during the case is guarded as well (<see cref="CudaStorage.GuardBytes"/>).
/// </summary>
internal static class OpConformance
{
    private static CudaBackend? _backend;

    /// <summary>The CUDA backend over the test device, registered once.</summary>
    public static CudaBackend Backend(TestDevice fixture) => _backend ??= CudaBackend.Register(fixture.Device);

    /// <summary>Float inputs in [−1, 1) from <paramref name="seed"/>, kept in f64 until the case casts them.</summary>
    public static Tensor Input(long seed, params int[] shape) => Tensor.Rand(seed, shape, -1, 1, DType.F64);

    /// <summary>
    /// Casts the float <paramref name="inputs"/> to <paramref name="dtype"/> (index tensors stay as they are), runs
    /// <paramref name="run"/> on both backends and compares every output.
    /// </summary>
    public static void Verify(TestDevice fixture, string name, DType dtype, Tensor[] inputs, OutSpec[] outputs,
        Action<IBackend, Tensor[], Tensor[]> run)
    {
        var cuda = Backend(fixture);
        var owned = new List<Tensor>();
        Tensor Own(Tensor t)
        {
            owned.Add(t);
            return t;
        }

        // Storages the backend rents itself (scratch, saved statistics) are guarded too; checked after the case.
        using var guards = SharedOpCaseTests.Guarded($"{name} [cuda {dtype.Name()}]");
        try
        {
            Tensor[] host = inputs.Select(t => Own(t.DType.IsFloating() ? t.To(dtype) : t.Alias())).ToArray();
            Tensor[] device = host.Select(t => Own(t.To(cuda.TensorDevice))).ToArray();
            // Every output sits between canary guard bands (STYLE.md §9), checked right after the launch.
            var guarded = outputs.Select(o => GuardBands.Allocate(o.Shape, TypeOf(o, dtype), cuda.TensorDevice))
                .ToArray();
            Tensor[] got = guarded.Select(g => Own(g.Output)).ToArray();
            Tensor[] bands = guarded.Select(g => Own(g.Buffer)).ToArray();
            run(cuda, device, got);
            cuda.Device.Synchronize();
            for (int i = 0; i < bands.Length; i++)
            {
                string? overwrite = GuardBands.Check($"{name} {dtype.Name()} output {i}", bands[i].ToDoubleArray());
                Assert.True(overwrite is null, overwrite);
            }

            Tensor[] cpu = outputs.Select(o => Own(Tensor.Empty(o.Shape, TypeOf(o, dtype)))).ToArray();
            using (CpuBackend.ReferenceMode()) run(CpuBackend.Instance, host, cpu);
            if (dtype == DType.F32)
            {
                for (int i = 0; i < outputs.Length; i++)
                    Compare($"{name} f32 output {i}", got[i].ToDoubleArray(), cpu[i].ToDoubleArray(), outputs[i].Tol);
                return;
            }

            Tensor[] wide = host.Select(t => Own(t.DType.IsFloating() ? t.To(DType.F64) : t.Alias())).ToArray();
            Tensor[] oracle = outputs.Select(o => Own(Tensor.Empty(o.Shape, TypeOf(o, DType.F64)))).ToArray();
            run(CpuBackend.Instance, wide, oracle);
            for (int i = 0; i < outputs.Length; i++)
            {
                string what = $"{name} {dtype.Name()} output {i}";
                double[] g = got[i].ToDoubleArray(), c = cpu[i].ToDoubleArray(), r = oracle[i].ToDoubleArray();
                if (outputs[i].Tol == Check.Exact) Compare(what, g, c, Check.Exact);
                else if (outputs[i].Kind == OutKind.Stat) Compare(what, g, r, Check.Nmse);
                else
                {
                    string? err = Conformance.CompareHalf(what, g, r, dtype, Oracle.Nmse(c, r));
                    Assert.True(err is null, err);
                }
            }
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    private static DType TypeOf(OutSpec o, DType run) => o.Kind switch
    {
        OutKind.I64 => DType.I64,
        OutKind.Stat => run == DType.F64 ? DType.F64 : DType.F32,
        _ => run,
    };

    /// <summary>Compares <paramref name="got"/> with <paramref name="want"/> by the f32 rule of <paramref name="check"/>.</summary>
    public static void Compare(string what, double[] got, double[] want, Check check)
    {
        string? err = Conformance.Compare(what, got, want, check, DType.F32);
        Assert.True(err is null, err);
    }
}
