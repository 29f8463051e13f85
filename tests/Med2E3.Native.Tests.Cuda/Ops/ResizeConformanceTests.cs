using Med2E3.Native.Formats.Volumes;
using Med2E3.Native.Models.Input;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;
using static Med2E3.Native.Tests.Cuda.Ops.OpConformance;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// Crop + trilinear resize (kernels/resize.cu) against the CPU reference loops of Ops/Resize.cs on random non-zero
/// inputs with odd sizes, upsampling and downsampling on different axes, crop boxes off the origin and the exact-copy
/// case; then the whole preprocessing with the resize on the device against the host path.
/// </summary>
public class ResizeConformanceTests(TestDevice fixture)
{
    public static TheoryData<DType, int[], int[], int[]> Cases() => new()
    {
        // dtype, input (B, C, D, Hi, W), crop (z0, z1, y0, y1, x0, x1), output (Do, Ho, Wo)
        { DType.F32, [2, 1, 9, 13, 11], [1, 8, 2, 13, 0, 10], [5, 17, 3] },     // 7×11×10 → down, up, down
        { DType.F32, [1, 3, 5, 6, 7], [0, 5, 0, 6, 0, 7], [11, 3, 29] },        // no crop, 3 channels
        { DType.F32, [1, 1, 41, 67, 71], [3, 38, 5, 60, 9, 70], [32, 64, 64] }, // Med-2E3's depth, downsampled planes
        { DType.F32, [1, 2, 8, 9, 10], [2, 6, 1, 8, 3, 9], [4, 7, 6] },          // crop extent = size: exact copy
        { DType.BF16, [2, 1, 9, 13, 11], [1, 8, 2, 13, 0, 10], [5, 17, 3] },
        { DType.BF16, [1, 1, 41, 67, 71], [3, 38, 5, 60, 9, 70], [32, 64, 64] },
    };

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void MatchesTheCpuReference(DType dtype, int[] shape, int[] crop, int[] size)
    {
        using var x = Input(90, shape);
        Verify(fixture, "ResizeTrilinear3d", dtype, [x], [new([shape[0], shape[1], size[0], size[1], size[2]], Tol: Tests.Shared.Check.Elementwise)],
            (be, i, o) => be.ResizeTrilinear3d(i[0], crop, o[0]));
    }

    [CudaFact]
    public void PreprocessOnTheDeviceMatchesTheHost()
    {
        var cuda = Backend(fixture).TensorDevice;
        var rng = new Random(91);
        const int d = 23, h = 61, w = 57;
        var data = new float[d * h * w];
        for (int z = 3; z < 19; z++)
            for (int y = 7; y < 50; y++)
                for (int x = 4; x < 53; x++)
                    data[(z * h + y) * w + x] = (float)rng.NextDouble() + 0.01f; // foreground box [3:19, 7:50, 4:53]
        var volume = new Volume(data, d, h, w, "phantom.nii", VolumeFileFormat.Nifti1);
        var options = new PreprocessOptions(8, 32, 32);
        using var leaks = TensorStats.Track();
        using (var host = Preprocess.Run(volume, options))
        using (var device = Preprocess.Run(volume, cuda, options))
        {
            Assert.Equal(host.Crop, device.Crop);
            using var t = device.ToTensor();
            Assert.Equal(cuda, t.Device);
            Assert.Equal([1, 1, 8, 32, 32], t.Shape);
            Compare("preprocess cuda vs host", [.. device.Data.Select(v => (double)v)],
                [.. host.Data.Select(v => (double)v)], Tests.Shared.Check.Elementwise);
        }

        Assert.Equal(0, leaks.Live);
    }
}
