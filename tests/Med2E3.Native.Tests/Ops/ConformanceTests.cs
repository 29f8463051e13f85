using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using Med2E3.Native.Tests.Shared;

namespace Med2E3.Native.Tests.Ops;

/// <summary>
/// The op conformance harness on the CPU: every <see cref="OpCase"/> × {reference, fast} × {f32, f64, bf16, f16},
/// compared with float64 oracles written from the formulas; float64 gradient checks; canary guard bands on every
/// CPU allocation; a leak assertion per case.
/// </summary>
public class ConformanceTests
{
    static ConformanceTests() => CpuStorage.GuardBands = true;

    private static OpCase Case(string name) => OpCases.All.Single(c => c.Name == name);

    public static TheoryData<string> All => new(OpCases.All.Select(c => c.Name));

    public static TheoryData<string> WithF64 => new(OpCases.All.Where(c => c.F64).Select(c => c.Name));

    public static TheoryData<string> WithHalf => new(OpCases.All.Where(c => c.Half).Select(c => c.Name));

    public static TheoryData<string> WithGrad => new(OpCases.All.Where(c => c.GradInputs.Length > 0 && c.F64).Select(c => c.Name));

    public static TheoryData<string> WithGradF32 => new(OpCases.All.Where(c => c.GradInputs.Length > 0).Select(c => c.Name));

    private static void CheckCase(OpCase c, DType dtype)
    {
        long canaries = CpuStorage.CanaryViolations;
        using var leaks = TensorStats.Track();
        var (ins, outs, _) = Conformance.Run(c, dtype, Device.Cpu);
        var failures = Conformance.Failures(c, dtype, ins, outs, CpuBackend.Instance.Name);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(0, leaks.Live);
        Assert.Equal(canaries, CpuStorage.CanaryViolations);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void ReferenceF32(string name)
    {
        using var r = CpuBackend.ReferenceMode();
        CheckCase(Case(name), DType.F32);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void FastF32(string name) => CheckCase(Case(name), DType.F32);

    [Theory]
    [MemberData(nameof(WithF64))]
    public void ReferenceF64(string name) => CheckCase(Case(name), DType.F64);

    [Theory]
    [MemberData(nameof(WithHalf))]
    public void Bf16(string name) => CheckCase(Case(name), DType.BF16);

    [Theory]
    [MemberData(nameof(WithHalf))]
    public void F16(string name) => CheckCase(Case(name), DType.F16);

    [Theory]
    [MemberData(nameof(WithGrad))]
    public void GradientF64(string name)
    {
        using var leaks = TensorStats.Track();
        var err = Conformance.GradCheck(Case(name), Device.Cpu);
        Assert.True(err is null, err);
        Assert.Equal(0, leaks.Live);
    }

    [Theory]
    [MemberData(nameof(WithGradF32))]
    public void BackwardF32FastMatchesReference(string name)
    {
        using var leaks = TensorStats.Track();
        var c = Case(name);
        var fast = Conformance.Gradients(c, DType.F32, Device.Cpu);
        double[][] reference;
        using (CpuBackend.ReferenceMode()) reference = Conformance.Gradients(c, DType.F32, Device.Cpu);
        for (int i = 0; i < fast.Length; i++)
        {
            var err = Conformance.Compare($"{name} d(input {c.GradInputs[i]}) fast vs reference", fast[i], reference[i], Check.Nmse, DType.F32);
            Assert.True(err is null, err);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void EveryOpKindHasACase()
    {
        var covered = OpCases.All.Select(c => c.Kind).ToHashSet();
        var missing = Enum.GetValues<OpKind>().Where(k => !covered.Contains(k)).ToList();
        Assert.True(missing.Count == 0, "OpKinds without an OpCase: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryOpKindIsRegistered()
    {
        var missing = Enum.GetValues<OpKind>().Where(k => !OpRegistry.Contains(k)).ToList();
        Assert.True(missing.Count == 0, "OpKinds missing from OpRegistry: " + string.Join(", ", missing));
    }

    [Fact]
    public void EveryDifferentiableOpHasAGradientCheck()
    {
        var checkedKinds = OpCases.All.Where(c => c.GradInputs.Length > 0).Select(c => c.Kind).ToHashSet();
        var missing = OpRegistry.All.Where(o => o.HasBackward && !checkedKinds.Contains(o.Kind)).Select(o => o.Kind).ToList();
        Assert.True(missing.Count == 0, "ops with a backward but no gradient check: " + string.Join(", ", missing));
    }

    [Fact]
    public void CpuBackendSupportsEveryOpForF32AndF64()
    {
        foreach (var k in Enum.GetValues<OpKind>())
        {
            Assert.True(CpuBackend.Instance.Supports(k, DType.F32), k.ToString());
            Assert.True(CpuBackend.Instance.Supports(k, DType.F64), k.ToString());
        }
    }
}
