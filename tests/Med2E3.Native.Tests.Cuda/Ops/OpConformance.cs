using Med2E3.Native.Ops;
using Med2E3.Native.Ops.Cuda;
using Med2E3.Native.Tensors;

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

/// <summary>How an output is compared (STYLE.md §9).</summary>
internal enum Tolerance
{
    /// <summary>f32: |d − r| ≤ 1e-5 + 1e-4·|r| per element.</summary>
    Elementwise,

    /// <summary>f32: NMSE = Σ(d − r)² / Σr² ≤ 1e-7 (reductions, softmax, products, attention).</summary>
    Nmse,

    /// <summary>Bit-identical values (copies, gathers, indices).</summary>
    Exact,
}

/// <summary>One output of an op case.</summary>
internal sealed record OutSpec(int[] Shape, OutKind Kind = OutKind.Data, Tolerance Tol = Tolerance.Nmse);

/// <summary>
/// Runs one op on the CUDA backend and on the CPU backend from the same seeded inputs and compares (STYLE.md §9):
/// f32 against the CPU reference loops at f32; bf16 against a float64 oracle (the CPU reference on the bf16 inputs
/// widened exactly to f64), where the CUDA error may be at most twice the CPU's own bf16 error. Statistics (mean,
/// rstd, lse) are f32 in both runs and compared with the f32 NMSE rule against the oracle.
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
    public static void Check(TestDevice fixture, string name, DType dtype, Tensor[] inputs, OutSpec[] outputs,
        Action<IBackend, Tensor[], Tensor[]> run)
    {
        var cuda = Backend(fixture);
        var owned = new List<Tensor>();
        Tensor Own(Tensor t)
        {
            owned.Add(t);
            return t;
        }

        try
        {
            Tensor[] host = inputs.Select(t => Own(t.DType.IsFloating() ? t.To(dtype) : t.Alias())).ToArray();
            Tensor[] device = host.Select(t => Own(t.To(cuda.TensorDevice))).ToArray();
            Tensor[] got = outputs.Select(o => Own(Tensor.Empty(o.Shape, TypeOf(o, dtype), cuda.TensorDevice)))
                .ToArray();
            run(cuda, device, got);
            cuda.Device.Synchronize();

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
                if (outputs[i].Tol == Tolerance.Exact) Compare(what, g, c, Tolerance.Exact);
                else if (outputs[i].Kind == OutKind.Stat) Compare(what, g, r, Tolerance.Nmse);
                else
                {
                    double errCuda = Rms(g, r), errCpu = Rms(c, r);
                    Assert.True(errCuda <= 2 * errCpu + 1e-12 * (1 + Rms(r, new double[r.Length])),
                        $"{what}: RMS error {errCuda:g4} against the f64 oracle exceeds 2 × the CPU's {errCpu:g4}\n" +
                        FirstMismatches(g, r));
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

    /// <summary>Compares <paramref name="got"/> with <paramref name="want"/>; failures list mismatches.</summary>
    public static void Compare(string what, double[] got, double[] want, Tolerance tol)
    {
        Assert.Equal(want.Length, got.Length);
        bool ok = tol switch
        {
            Tolerance.Exact => got.Zip(want).All(p => p.First.Equals(p.Second)),
            Tolerance.Elementwise => got.Zip(want).All(p =>
                Math.Abs(p.First - p.Second) <= 1e-5 + 1e-4 * Math.Abs(p.Second)
                || (double.IsNaN(p.First) && double.IsNaN(p.Second)) || p.First == p.Second),
            _ => Nmse(got, want) <= 1e-7,
        };
        Assert.True(ok, $"{what}: {tol} check failed, NMSE {Nmse(got, want):g4}\n{FirstMismatches(got, want)}");
    }

    private static double Nmse(double[] d, double[] r)
    {
        double num = 0, den = 0;
        for (int i = 0; i < d.Length; i++)
        {
            num += (d[i] - r[i]) * (d[i] - r[i]);
            den += r[i] * r[i];
        }

        return den == 0 ? num : num / den;
    }

    private static double Rms(double[] d, double[] r)
    {
        double s = 0;
        for (int i = 0; i < d.Length; i++) s += (d[i] - r[i]) * (d[i] - r[i]);
        return d.Length == 0 ? 0 : Math.Sqrt(s / d.Length);
    }

    private static string FirstMismatches(double[] got, double[] want)
    {
        var lines = new List<string>();
        double maxAbs = 0, maxRel = 0;
        for (int i = 0; i < got.Length; i++)
        {
            double abs = Math.Abs(got[i] - want[i]);
            if (!(abs <= 1e-5 + 1e-4 * Math.Abs(want[i])) && !got[i].Equals(want[i]))
            {
                if (lines.Count < 5) lines.Add($"  [{i}] got {got[i]:g9}, want {want[i]:g9}");
                maxAbs = Math.Max(maxAbs, abs);
                maxRel = Math.Max(maxRel, abs / Math.Max(Math.Abs(want[i]), 1e-30));
            }
        }

        return $"{string.Join('\n', lines)}\n  max abs {maxAbs:g4}, max rel {maxRel:g4}, NMSE {Nmse(got, want):g4}";
    }
}
