namespace Med2E3.Native.Models.Input;

/// <summary>
/// Maps stored voxel axes (i, j, k; i fastest) onto the canonical (D, H, W) layout described on <see cref="Volume"/>.
/// </summary>
/// <remarks>
/// The orientation comes from a voxel-to-world matrix M (world = RAS+, M[world axis, voxel axis]). Each voxel axis is
/// assigned the world axis it is most parallel to, greedily by the largest |cosine| first, as nibabel's
/// <c>io_orientation</c> does for oblique scans. The canonical array then puts world S on D, A on H and R on W, and
/// flips every axis whose voxel direction points towards +S, +A or +R, because D, H and W increase towards inferior,
/// posterior and the patient's left (axis codes "LPI", fastest first).
/// </remarks>
public static class Orientation
{
    /// <summary>The canonical layout's axis codes, fastest axis (W) first.</summary>
    public const string CanonicalAxisCodes = "LPI";

    /// <summary>
    /// For each voxel axis v = 0, 1, 2 (i, j, k): the world axis it follows (0 = R, 1 = A, 2 = S) and the sign (+1 when
    /// the voxel index increases towards R, A or S). Null when a column of <paramref name="m"/> is zero or the matrix is
    /// singular or not finite.
    /// </summary>
    public static (int[] WorldAxis, int[] Sign)? AxesFromMatrix(double[,] m)
    {
        var a = new double[3, 3];
        for (int v = 0; v < 3; v++)
        {
            double norm = Math.Sqrt(m[0, v] * m[0, v] + m[1, v] * m[1, v] + m[2, v] * m[2, v]);
            if (!(norm > 0) || !double.IsFinite(norm))
            {
                return null;
            }

            for (int r = 0; r < 3; r++)
            {
                a[r, v] = m[r, v] / norm;
            }
        }

        double det = a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
                   - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
                   + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);
        if (Math.Abs(det) < 1e-6)
        {
            return null;
        }

        var worldAxis = new int[] { -1, -1, -1 };
        var sign = new int[3];
        var rowUsed = new bool[3];
        for (int step = 0; step < 3; step++)
        {
            int br = -1;
            int bv = -1;
            double best = -1;
            for (int v = 0; v < 3; v++)
            {
                for (int r = 0; r < 3; r++)
                {
                    if (worldAxis[v] < 0 && !rowUsed[r] && Math.Abs(a[r, v]) > best)
                    {
                        best = Math.Abs(a[r, v]);
                        br = r;
                        bv = v;
                    }
                }
            }

            worldAxis[bv] = br;
            sign[bv] = a[br, bv] >= 0 ? 1 : -1;
            rowUsed[br] = true;
        }

        return (worldAxis, sign);
    }

    /// <summary>Axis codes of stored axes, fastest first: e.g. "RAS" for i → R, j → A, k → S.</summary>
    public static string AxisCodes(int[] worldAxis, int[] sign)
    {
        var c = new char[3];
        for (int v = 0; v < 3; v++)
        {
            c[v] = (worldAxis[v], sign[v] > 0) switch
            {
                (0, true) => 'R',
                (0, false) => 'L',
                (1, true) => 'A',
                (1, false) => 'P',
                (2, true) => 'S',
                _ => 'I',
            };
        }

        return new string(c);
    }

    /// <summary>
    /// Permutes and flips <paramref name="src"/>, stored with i fastest and sizes (<paramref name="ni"/>,
    /// <paramref name="nj"/>, <paramref name="nk"/>), into the canonical (D, H, W) array.
    /// </summary>
    public static float[] ToCanonical(
        float[] src, int ni, int nj, int nk, int[] worldAxis, int[] sign, out int d, out int h, out int w)
    {
        var n = new[] { ni, nj, nk };
        var stride = new long[] { 1, ni, (long)ni * nj };

        // Output axis o (0 = D, 1 = H, 2 = W) is fed by the voxel axis whose world axis is S, A or R respectively.
        var outSize = new int[3];
        var outStride = new long[3];
        long start = 0;
        for (int v = 0; v < 3; v++)
        {
            int o = 2 - worldAxis[v];
            outSize[o] = n[v];
            bool flip = sign[v] > 0;
            outStride[o] = flip ? -stride[v] : stride[v];
            if (flip)
            {
                start += (n[v] - 1) * stride[v];
            }
        }

        (d, h, w) = (outSize[0], outSize[1], outSize[2]);
        if (start == 0 && outStride[0] == (long)ni * nj && outStride[1] == ni && outStride[2] == 1)
        {
            return src;
        }

        var dst = new float[src.Length];
        int hh = h;
        int ww = w;
        Parallel.For(0, d, z =>
        {
            long o = (long)z * hh * ww;
            for (int y = 0; y < hh; y++)
            {
                long s = start + z * outStride[0] + y * outStride[1];
                for (int x = 0; x < ww; x++)
                {
                    dst[o++] = src[s];
                    s += outStride[2];
                }
            }
        });
        return dst;
    }

    /// <summary>
    /// The NIfTI qform rotation (quaternion b, c, d with a = √(1 − b² − c² − d²)) with columns scaled by the voxel
    /// sizes and the third by qfac (pixdim[0], ±1), as in the NIfTI-1 reference library.
    /// </summary>
    public static double[,] QuaternionToMatrix(double b, double c, double d, double qfac, double dx, double dy, double dz)
    {
        double a = 1.0 - (b * b + c * c + d * d);
        if (a < 1e-7)
        {
            // The reference library treats a (nearly) unit (b, c, d) as a 180° rotation: a = 0, renormalised.
            a = 1.0 / Math.Sqrt(b * b + c * c + d * d);
            b *= a;
            c *= a;
            d *= a;
            a = 0.0;
        }
        else
        {
            a = Math.Sqrt(a);
        }

        dx = dx > 0 ? dx : 1.0;
        dy = dy > 0 ? dy : 1.0;
        dz = dz > 0 ? dz : 1.0;
        dz *= qfac < 0 ? -1.0 : 1.0;
        return new double[,]
        {
            { (a * a + b * b - c * c - d * d) * dx, 2 * (b * c - a * d) * dy, 2 * (b * d + a * c) * dz },
            { 2 * (b * c + a * d) * dx, (a * a + c * c - b * b - d * d) * dy, 2 * (c * d - a * b) * dz },
            { 2 * (b * d - a * c) * dx, 2 * (c * d + a * b) * dy, (a * a + d * d - c * c - b * b) * dz },
        };
    }
}
