using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Layers;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Ops.Cpu;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Weights;

/// <summary>
/// Linear weights on the CPU in f32 are <see cref="PreparedLinear"/>s made from their stored bytes: the stored dtype
/// is kept, the products equal a direct double-precision formula over the exactly widened values, and fine-tuning
/// turns them into f32 tensors of exactly those values.
/// </summary>
public class PreparedWeightTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
    }

    [Theory]
    [InlineData(StorageDType.BF16, WeightStorage.Bf16, 7, 13, 3)]
    [InlineData(StorageDType.F16, WeightStorage.F16, 1, 5, 1)]
    [InlineData(StorageDType.F32, WeightStorage.F32, 33, 17, 5)]
    public void LinearKeepsStoredDTypeAndMatchesDirectFormula(StorageDType stored, WeightStorage storage, int outF, int inF, int rows)
    {
        var weight = WeightTensor.FromFloat32("fc.weight", [outF, inF], Random(outF * inF, outF), stored);
        var bias = WeightTensor.FromFloat32("fc.bias", [outF], Random(outF, inF), stored);
        float[] wide = weight.ToFloat32(), b = bias.ToFloat32();   // the exactly widened stored values
        float[] x = Random(rows * inF, rows);

        using var leaks = TensorStats.Track();
        using (var parameters = new ParameterSet())
        {
            var loader = new WeightLoader(new StateDict([weight, bias]), "c", parameters, Device.Cpu, DType.F32);
            Assert.True(loader.PreparesLinears);
            var linear = Linear.Load(loader, "fc", inF, outF);
            Assert.NotNull(linear.Prepared);
            Assert.Null(linear.Weight);
            Assert.Equal(storage, linear.Prepared!.Storage);
            Assert.Equal(CpuPrecision.F32, linear.Prepared.Precision);
            Assert.True(parameters.IsPrepared("c.fc.weight"));
            Assert.False(parameters.Contains("c.fc.weight"));
            Assert.Equal(2, parameters.Count);
            Assert.Equal((long)outF * inF + outF, parameters.ElementCount);
            Assert.True(parameters.ResidentBytes >= (long)outF * inF * 2);

            float[] y;
            using (TensorScope.Begin())
            {
                y = linear.Forward(Tensor.FromArray(x, rows, inF)).ToFloatArray();
            }
            double num = 0, den = 0;
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < outF; j++)
            {
                double r = b[j];
                for (int p = 0; p < inF; p++) r += (double)x[i * inF + p] * wide[j * inF + p];
                num += (y[i * outF + j] - r) * (y[i * outF + j] - r);
                den += r * r;
            }
            Assert.True(num / den <= 1e-7, $"NMSE {num / den:G3}");

            // Fine-tuning: the weight becomes an f32 parameter tensor of exactly the stored values.
            var prepared = linear.Prepared;
            Assert.Equal(1, parameters.MakeTrainable("c."));
            Assert.True(prepared.IsDisposed);
            Assert.Null(linear.Prepared);
            Assert.Same(linear.Weight, parameters["c.fc.weight"]);
            Assert.Equal(wide, linear.Weight!.ToFloatArray());
            Assert.Equal(["c.fc.bias", "c.fc.weight"], parameters.All.Select(t => t.Name!).Order(StringComparer.Ordinal));
            Assert.Equal(2, parameters.Count);
            Assert.Equal((long)outF * inF + outF, parameters.ElementCount);
            float[] y2;
            using (TensorScope.Begin())
            {
                y2 = linear.Forward(Tensor.FromArray(x, rows, inF)).ToFloatArray();
            }
            for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - y2[i]) <= 1e-5 + 1e-4 * Math.Abs(y2[i]));
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void F64ComputeKeepsTensorWeights()
    {
        var weight = WeightTensor.FromFloat32("fc.weight", [3, 2], Random(6, 1), StorageDType.BF16);
        using var leaks = TensorStats.Track();
        using (var parameters = new ParameterSet())
        {
            var loader = new WeightLoader(new StateDict([weight]), "c", parameters, Device.Cpu, DType.F64);
            Assert.False(loader.PreparesLinears);
            var linear = Linear.Load(loader, "fc", 2, 3, bias: false);
            Assert.Null(linear.Prepared);
            Assert.Same(linear.Weight, parameters["c.fc.weight"]);
        }
        Assert.Equal(0, leaks.Live);
    }

    [Fact]
    public void ModelHoldsPreparedWeightsUntilFineTuning()
    {
        using var leaks = TensorStats.Track();
        using (var model = Med2E3Model.Load(FixturePaths.Checkpoint, "cpu"))
        {
            long elements = model.Parameters.ElementCount;
            int count = model.Parameters.Count;
            string[] linears =
            [
                "llm.lm_head.weight", "llm.model.layers.0.self_attn.qkv_proj.weight", "llm.model.layers.0.mlp.down_proj.weight",
                "vision3d_connector.text_mlp.weight",
            ];
            foreach (string name in linears) Assert.True(model.Parameters.IsPrepared(name), name);
            Assert.Contains(model.Parameters.Prepared, p => p.Key.StartsWith("vision3d_model.", StringComparison.Ordinal));
            Assert.Contains(model.Parameters.Prepared, p => p.Key.StartsWith("vision2d_model.", StringComparison.Ordinal));

            model.EnableFineTuning();
            foreach (string name in linears)
            {
                Assert.False(model.Parameters.IsPrepared(name), name);
                Assert.True(model.Parameters[name].RequiresGrad, name);
            }
            Assert.All(model.Parameters.Prepared, p => Assert.StartsWith("vision3d_model.", p.Key));
            Assert.NotEmpty(model.Parameters.Prepared);
            Assert.Equal(elements, model.Parameters.ElementCount);
            Assert.Equal(count, model.Parameters.Count);
        }
        Assert.Equal(0, leaks.Live);
    }
}
