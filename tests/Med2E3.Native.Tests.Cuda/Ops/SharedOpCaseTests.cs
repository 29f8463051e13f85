using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// The shared <see cref="OpCases"/> (the same cases the CPU backend passes) on the CUDA backend: every case in f32
/// and, where the case allows, bf16 against its float64 oracle; and the gradients of every differentiable case
/// against the CPU backend's f32 gradients. An op the CUDA backend does not support is reported as skipped, not
/// failed. Every CUDA storage a case rents (inputs, outputs, scratch, saved tensors) sits between canary guard bands
/// (<see cref="CudaStorage.GuardBytes"/>, STYLE.md §9), checked when released and once more after the case; a damaged
/// band fails the case naming the op, the case, the storage and the side.
/// </summary>
public class SharedOpCaseTests(TestDevice fixture)
{
    private Device Cuda => OpConformance.Backend(fixture).TensorDevice;

    private static OpCase Case(string name) => OpCases.All.Single(c => c.Name == name);

    public static TheoryData<string> All => new(OpCases.All.Select(c => c.Name));

    public static TheoryData<string> WithHalf => new(OpCases.All.Where(c => c.Half).Select(c => c.Name));

    public static TheoryData<string> WithGrad =>
        new(OpCases.All.Where(c => c.GradInputs.Length > 0).Select(c => c.Name));

    private void CheckCase(OpCase c, DType dtype)
    {
        var backend = OpConformance.Backend(fixture);
        if (!backend.Supports(c.Kind, dtype))
            Assert.Skip($"{c.Kind} {dtype.Name()} is not supported by the CUDA backend");
        using var leaks = TensorStats.Track();
        Arr[] ins, outs;
        using (Guarded($"{c.Kind} case {c.Name} [cuda {dtype.Name()}]"))
            (ins, outs, _) = Conformance.Run(c, dtype, Cuda);
        var failures = Conformance.Failures(c, dtype, ins, outs, "cuda");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(0, leaks.Live);
    }

    /// <summary>
    /// Turns the CUDA guard bands on until disposed; then checks the storages still live, and fails naming
    /// <paramref name="what"/> when any band of a storage rented meanwhile was overwritten.
    /// </summary>
    internal static IDisposable Guarded(string what)
    {
        CudaStorage.TakeGuardViolations();
        var on = CudaStorage.EnableGuardBands();
        return new GuardCheck(what, on);
    }

    private sealed class GuardCheck(string what, IDisposable on) : IDisposable
    {
        public void Dispose()
        {
            on.Dispose();
            CudaStorage.CheckGuardBands();
            var violations = CudaStorage.TakeGuardViolations();
            Assert.True(violations.Count == 0,
                $"{what}: out-of-bounds write\n" + string.Join("\n", violations.Select(v => "  " + v)));
        }
    }

    [CudaTheory]
    [MemberData(nameof(All))]
    public void F32(string name) => CheckCase(Case(name), DType.F32);

    [CudaTheory]
    [MemberData(nameof(WithHalf))]
    public void Bf16(string name) => CheckCase(Case(name), DType.BF16);

    [CudaTheory]
    [MemberData(nameof(WithGrad))]
    public void GradientsMatchTheCpuBackend(string name)
    {
        var c = Case(name);
        if (!OpConformance.Backend(fixture).Supports(c.Kind, DType.F32))
            Assert.Skip($"{c.Kind} is not supported by the CUDA backend");
        double[][] cpu = Gradients(c, Device.Cpu);
        double[][] gpu;
        using (Guarded($"{c.Kind} case {c.Name} [cuda f32 backward]"))
            gpu = Gradients(c, Cuda);
        for (int i = 0; i < cpu.Length; i++)
        {
            string what = $"{c.Name} gradient of input {c.GradInputs[i]}";
            string? err = Conformance.Compare(what, gpu[i], cpu[i], Check.Nmse, DType.F32);
            Assert.True(err is null, err);
        }
    }

    // d/dx of L = Σ_k Σ out_k ⊙ R_k with fixed random R_k, for each input in GradInputs, in f32 on one device.
    private static double[][] Gradients(OpCase c, Device device)
    {
        using var scope = TensorScope.Begin();
        var ins = c.Inputs(new Gen(Conformance.Seed, DType.F32, device));
        foreach (int i in c.GradInputs) ins[i].RequiresGrad = true;
        var outs = c.Run(ins);
        Tensor? loss = null;
        for (int k = 0; k < outs.Length; k++)
        {
            if (!outs[k].DType.IsFloating() || !outs[k].RequiresGrad) continue;
            // The loss is taken in f32 (an op such as the cast to f64 has an f64 output, which the CUDA backend
            // only copies); the cast back is differentiable, so the gradient still reaches the op's input.
            var o = outs[k].DType == DType.F32 ? outs[k] : F.Cast(outs[k], DType.F32);
            var r = Tensor.Randn(Conformance.Seed + 100 + k, outs[k].Shape, DType.F32, device);
            var term = F.Sum(F.Mul(o, r).Reshape(-1), 0);
            loss = loss is null ? term : F.Add(loss, term);
        }

        Assert.NotNull(loss);
        loss.Backward();
        var grads = c.GradInputs.Select(i => ins[i].Grad?.ToDoubleArray() ?? new double[ins[i].Numel]).ToArray();
        foreach (var t in ins) t.RequiresGrad = false;
        return grads;
    }
}
