using Med2E3.Native.Models.Layers;
using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Formats.Checkpoints;
using Med2E3.Native.Models.Weights;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

/// <summary>
/// The 3D connector and TG-IS on geometries other than the tiny fixture's (the group count and the slices per group
/// come from the shapes), against a direct double-precision transcription of spec §5.2.
/// </summary>
public class ConnectorTests
{
    [Theory]
    [InlineData(4, 4, 4, 16, 4)]   // 2 pooled depth groups × 8 slices (the second fixture's geometry)
    [InlineData(8, 2, 4, 8, 3)]    // 4 groups × 2 slices, non-square grid
    [InlineData(2, 2, 2, 5, 2)]    // 1 group × 5 slices
    public void TgisMatchesDirectFormula(int gz, int gy, int gx, int slices, int t2)
    {
        const int c3 = 6, d = 5, ct = 7;
        var rng = new Random(gz * 100 + slices);
        float[] R(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] w0 = R(d * c3), b0 = R(d), w2 = R(d * d), b2 = R(d), wt = R(d * ct), bt = R(d);
        var sd = new StateDict(
        [
            WeightTensor.FromFloat32("_connector.0.weight", [d, c3], w0), WeightTensor.FromFloat32("_connector.0.bias", [d], b0),
            WeightTensor.FromFloat32("_connector.2.weight", [d, d], w2), WeightTensor.FromFloat32("_connector.2.bias", [d], b2),
            WeightTensor.FromFloat32("text_mlp.weight", [d, ct], wt), WeightTensor.FromFloat32("text_mlp.bias", [d], bt),
        ]);
        int n = gz * gy * gx;
        float[] f3 = R(n * c3), z2 = R(slices * t2 * d), p = R(ct);

        using var leaks = TensorStats.Track();
        float[] tokens, scores, fused;
        using (var parameters = new ParameterSet())
        using (var scope = TensorScope.Begin())
        {
            var conn = Vision3DConnector.Load(new WeightLoader(sd, "vision3d_connector", parameters, Device.Cpu, DType.F32),
                [gz, gy, gx], c3, d, ct);
            var z2t = Tensor.FromArray(z2, 1, slices, t2, d);
            var output = conn.Forward(Tensor.FromArray(f3, 1, n, c3), z2t, Tensor.FromArray(p, 1, ct));
            tokens = output.Tokens.ToFloatArray();
            scores = output.SliceScores.ToFloatArray();
            fused = Vision3DConnector.Fuse(z2t, output.SliceScores).ToFloatArray();
        }
        Assert.Equal(0, leaks.Live);

        // Direct formula in double.
        int pz = gz / 2, py = gy / 2, px = gx / 2, l3 = pz * py * px, groups = pz;
        var z3 = new double[l3, d];
        for (int z = 0; z < pz; z++)
        for (int y = 0; y < py; y++)
        for (int x = 0; x < px; x++)
        {
            int j = (z * py + y) * px + x;
            var pooled = new double[c3];
            for (int dz = 0; dz < 2; dz++)
            for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
            {
                int tok = ((2 * z + dz) * gy + 2 * y + dy) * gx + 2 * x + dx;
                for (int c = 0; c < c3; c++) pooled[c] += f3[tok * c3 + c] / 8.0;
            }
            var h = new double[d];
            for (int o = 0; o < d; o++)
            {
                double s = b0[o];
                for (int c = 0; c < c3; c++) s += w0[o * c3 + c] * pooled[c];
                h[o] = 0.5 * s * (1 + Erf(s / Math.Sqrt(2)));
            }
            for (int o = 0; o < d; o++)
            {
                double s = b2[o];
                for (int c = 0; c < d; c++) s += w2[o * d + c] * h[c];
                z3[j, o] = s;
            }
        }
        var t = new double[d];
        for (int o = 0; o < d; o++)
        {
            t[o] = bt[o];
            for (int c = 0; c < ct; c++) t[o] += wt[o * ct + c] * p[c];
        }
        var logits = new double[slices];
        int perGroup = l3 / groups;
        for (int s = 0; s < slices; s++)
        {
            int g = s / (slices / groups);
            var m = new double[d];
            for (int j = 0; j < perGroup; j++) for (int o = 0; o < d; o++) m[o] += z3[g * perGroup + j, o];
            for (int k = 0; k < t2; k++) for (int o = 0; o < d; o++) m[o] += z2[(s * t2 + k) * d + o];
            for (int o = 0; o < d; o++) logits[s] += m[o] / (perGroup + t2) * t[o];
            logits[s] /= 5.0;
        }
        double max = logits.Max(), sum = logits.Sum(v => Math.Exp(v - max));
        var expectedScores = logits.Select(v => Math.Exp(v - max) / sum).ToArray();

        for (int j = 0; j < l3; j++)
        for (int o = 0; o < d; o++)
            Assert.Equal(z3[j, o], tokens[j * d + o], 1e-5);
        for (int s = 0; s < slices; s++) Assert.Equal(expectedScores[s], scores[s], 1e-6);
        for (int k = 0; k < t2; k++)
        for (int o = 0; o < d; o++)
        {
            double e = 0;
            for (int s = 0; s < slices; s++) e += expectedScores[s] * z2[(s * t2 + k) * d + o];
            Assert.Equal(e, fused[k * d + o], 1e-5);
        }
    }

    [Fact]
    public void SlicesThatDoNotSplitIntoGroupsAreRefused()
    {
        var sd = new StateDict(
        [
            WeightTensor.FromFloat32("_connector.0.weight", [2, 2], new float[4]), WeightTensor.FromFloat32("_connector.0.bias", [2], new float[2]),
            WeightTensor.FromFloat32("_connector.2.weight", [2, 2], new float[4]), WeightTensor.FromFloat32("_connector.2.bias", [2], new float[2]),
            WeightTensor.FromFloat32("text_mlp.weight", [2, 2], new float[4]), WeightTensor.FromFloat32("text_mlp.bias", [2], new float[2]),
        ]);
        using var parameters = new ParameterSet();
        using var scope = TensorScope.Begin();
        var conn = Vision3DConnector.Load(new WeightLoader(sd, "c", parameters, Device.Cpu, DType.F32), [4, 2, 2], 2, 2, 2);
        var e = Assert.Throws<ShapeMismatchException>(() =>
            conn.Forward(Tensor.Zeros([1, 16, 2]), Tensor.Zeros([1, 3, 1, 2]), Tensor.Zeros([1, 2])));
        Assert.Contains("do not split into 2 depth groups", e.Message);
        Assert.Throws<ArgumentException>(() =>
            Vision3DConnector.Load(new WeightLoader(sd, "d", parameters, Device.Cpu, DType.F32), [3, 2, 2], 2, 2, 2));
    }

    /// <summary>erf in double (the Ops project's series / continued fraction, itself tested against reference values).</summary>
    private static double Erf(double x) => Med2E3.Native.Ops.Ops.Erf.Eval(x);
}
