using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Shared;

/// <summary>
/// Canary guard bands around harness-allocated outputs (STYLE.md §9): each output is a view into the middle of a
/// larger buffer whose <see cref="Band"/> elements on either side hold <see cref="Canary"/>; after the launch both
/// bands must still hold it, or a kernel wrote out of bounds.
/// </summary>
public static class GuardBands
{
    /// <summary>Elements of canary on each side of an output.</summary>
    public const int Band = 64;

    /// <summary>The canary value: exact in f32, bf16, f16, f64 and i64, and not a value the op cases produce.</summary>
    public const double Canary = -12288.0;

    /// <summary>
    /// A contiguous tensor of <paramref name="shape"/> on <paramref name="device"/> that is a view into a buffer of
    /// <see cref="Band"/> + numel + <see cref="Band"/> elements filled with <see cref="Canary"/>; dispose both.
    /// </summary>
    public static (Tensor Output, Tensor Buffer) Allocate(int[] shape, DType dtype, Device device)
    {
        int n = checked((int)Shapes.Numel(shape));
        var fill = new double[n + 2 * Band];
        Array.Fill(fill, Canary);
        using var host = Tensor.FromDoubles(fill, [fill.Length], dtype);
        var buffer = host.To(device);
        using var middle = buffer.Narrow(0, Band, n);
        return (middle.Reshape(shape), buffer);
    }

    /// <summary>
    /// Null when both bands of <paramref name="buffer"/> (an <see cref="Allocate"/> buffer read back) still hold the
    /// canary, else a one-line message naming <paramref name="what"/>, the side and the first overwritten element.
    /// </summary>
    public static string? Check(string what, ReadOnlySpan<double> buffer)
    {
        int n = buffer.Length - 2 * Band;
        for (int i = 0; i < Band; i++)
            if (!buffer[i].Equals(Canary))
                return $"{what}: guard band BEFORE the output overwritten at element {i - Band} (value {buffer[i]})";
        for (int i = 0; i < Band; i++)
            if (!buffer[Band + n + i].Equals(Canary))
                return $"{what}: guard band AFTER the output overwritten at element {n + i} (value {buffer[Band + n + i]})";
        return null;
    }
}
