namespace Med2E3.Native.Formats.Volumes;

/// <summary>
/// Maps stored voxel axes (i, j, k; i fastest) onto the canonical (D, H, W) layout described on <see cref="Volume"/>.
/// </summary>
/// <remarks>
/// <para>
/// The orientation comes from a voxel-to-world matrix M (world = RAS+ mm, M[world axis, voxel axis]) and follows
/// nibabel's <c>io_orientation</c> exactly, so a file gets the axes nibabel's <c>as_closest_canonical</c> gives it:
/// the columns of M are normalised, the shear and scaling are removed by the polar decomposition (the orthogonal
/// matrix R closest to the normalised M), and then, for i, j and k in that order, the voxel axis takes the world
/// axis of the largest |R[world, voxel]| among the world axes not yet taken (equal values: the lower world axis).
/// </para>
/// <para>
/// The canonical array puts world S on D, A on H and R on W, and flips every axis whose voxel direction points
/// towards +S, +A or +R, because D, H and W increase towards inferior, posterior and the patient's left (axis codes
/// "LPI", fastest first).
/// </para>
/// </remarks>
public static class Orientation
{
    /// <summary>The canonical layout's axis codes, fastest axis (W) first.</summary>
    public const string CanonicalAxisCodes = "LPI";

    // Two |cosines| closer than this (relative) count as a tie, broken towards the lower world axis as numpy's argmax
    // does on exactly equal values; far below the float32 precision of any header.
    private const double TieTolerance = 1e-12;

    /// <summary>
    /// For each voxel axis v = 0, 1, 2 (i, j, k): the world axis it follows (0 = R, 1 = A, 2 = S) and the sign (+1 when
    /// the voxel index increases towards R, A or S), as nibabel's <c>io_orientation</c> computes them. Null when a
    /// column of <paramref name="m"/> is zero or the matrix is singular or not finite (nibabel cannot reorient those).
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

        if (Math.Abs(Det(a)) < 1e-6)
        {
            return null;
        }

        var rot = PolarFactor(a);
        var worldAxis = new int[3];
        var sign = new int[3];
        var rowUsed = new bool[3];
        for (int v = 0; v < 3; v++)
        {
            int best = -1;
            for (int r = 0; r < 3; r++)
            {
                if (!rowUsed[r] && (best < 0 || Math.Abs(rot[r, v]) > Math.Abs(rot[best, v]) * (1 + TieTolerance)))
                {
                    best = r;
                }
            }

            worldAxis[v] = best;
            sign[v] = rot[best, v] < 0 ? -1 : 1;
            rowUsed[best] = true;
        }

        return (worldAxis, sign);
    }

    /// <summary>
    /// The orthogonal factor R of the polar decomposition A = R·P (P symmetric positive definite): the rotation (or
    /// rotation with reflection) closest to <paramref name="a"/>, nibabel's <c>P·Qs</c> from the SVD. Computed by
    /// Newton's iteration X ← (X + X⁻ᵀ) / 2, which converges quadratically for a non-singular A.
    /// </summary>
    public static double[,] PolarFactor(double[,] a)
    {
        var x = (double[,])a.Clone();
        for (int iteration = 0; iteration < 100; iteration++)
        {
            var inv = InverseTranspose(x);
            double change = 0;
            for (int r = 0; r < 3; r++)
            {
                for (int c = 0; c < 3; c++)
                {
                    double next = 0.5 * (x[r, c] + inv[r, c]);
                    change = Math.Max(change, Math.Abs(next - x[r, c]));
                    x[r, c] = next;
                }
            }

            if (change < 1e-15)
            {
                break;
            }
        }

        return x;
    }

    private static double Det(double[,] a) =>
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);

    // (A⁻¹)ᵀ = cofactor(A) / det(A).
    private static double[,] InverseTranspose(double[,] a)
    {
        double det = Det(a);
        var c = new double[3, 3];
        for (int r = 0; r < 3; r++)
        {
            for (int k = 0; k < 3; k++)
            {
                int r1 = (r + 1) % 3, r2 = (r + 2) % 3, k1 = (k + 1) % 3, k2 = (k + 2) % 3;
                c[r, k] = (a[r1, k1] * a[r2, k2] - a[r1, k2] * a[r2, k1]) / det;
            }
        }

        return c;
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

    /// <summary>The (world axis, sign) per stored axis of axis codes such as "RAS" (the inverse of <see cref="AxisCodes"/>).</summary>
    /// <exception cref="ArgumentException">not three codes naming three different world axes.</exception>
    public static (int[] WorldAxis, int[] Sign) FromAxisCodes(string codes)
    {
        ArgumentNullException.ThrowIfNull(codes);
        var worldAxis = new int[3];
        var sign = new int[3];
        for (int v = 0; v < 3 && codes.Length == 3; v++)
        {
            (worldAxis[v], sign[v]) = codes[v] switch
            {
                'R' => (0, 1),
                'L' => (0, -1),
                'A' => (1, 1),
                'P' => (1, -1),
                'S' => (2, 1),
                'I' => (2, -1),
                _ => (-1, 0),
            };
        }

        if (codes.Length != 3 || worldAxis.Distinct().Count() != 3 || worldAxis.Contains(-1))
        {
            throw new ArgumentException($"'{codes}' are not axis codes of three different world axes", nameof(codes));
        }

        return (worldAxis, sign);
    }

    /// <summary>
    /// Where stored voxels of sizes (<paramref name="ni"/>, <paramref name="nj"/>, <paramref name="nk"/>) with the
    /// given orientation land in the canonical array.
    /// </summary>
    public static CanonicalLayout Layout(int ni, int nj, int nk, int[] worldAxis, int[] sign)
    {
        var n = new[] { ni, nj, nk };
        var size = new int[3];
        for (int v = 0; v < 3; v++)
        {
            size[2 - worldAxis[v]] = n[v];
        }

        // Canonical strides of D, H, W; voxel axis v feeds canonical axis o = 2 − worldAxis[v], reversed when it
        // points towards +R, +A or +S.
        var canonicalStride = new long[] { (long)size[1] * size[2], size[2], 1 };
        var stride = new long[3];
        long start = 0;
        for (int v = 0; v < 3; v++)
        {
            long s = canonicalStride[2 - worldAxis[v]];
            bool flip = sign[v] > 0;
            stride[v] = flip ? -s : s;
            if (flip)
            {
                start += (n[v] - 1) * s;
            }
        }

        return new CanonicalLayout(size[0], size[1], size[2], start, stride[0], stride[1], stride[2]);
    }

    /// <summary>
    /// The NIfTI qform rotation as nibabel builds it: a = √(1 − b² − c² − d²) (0 when that is slightly negative,
    /// within 3 float32 epsilons; null when more negative), the unit-normalised quaternion's rotation matrix, with
    /// the columns scaled by the voxel sizes and the third by qfac (±1).
    /// </summary>
    public static double[,]? QuaternionToMatrix(double b, double c, double d, double qfac, double dx, double dy, double dz)
    {
        double w2 = 1.0 - (b * b + c * c + d * d);
        if (!double.IsFinite(w2) || w2 < -3 * Float32Eps)
        {
            return null;
        }

        double a = w2 < 0 ? 0 : Math.Sqrt(w2);
        double nq = a * a + b * b + c * c + d * d;
        double[,] r;
        if (nq < double.Epsilon)
        {
            r = new double[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
        }
        else
        {
            double s = 2.0 / nq;
            double x = b * s, y = c * s, z = d * s;
            double wx = a * x, wy = a * y, wz = a * z;
            double xx = b * x, xy = b * y, xz = b * z;
            double yy = c * y, yz = c * z, zz = d * z;
            r = new double[,]
            {
                { 1 - (yy + zz), xy - wz, xz + wy },
                { xy + wz, 1 - (xx + zz), yz - wx },
                { xz - wy, yz + wx, 1 - (xx + yy) },
            };
        }

        double[] scale = [dx, dy, dz * (qfac < 0 ? -1.0 : 1.0)];
        for (int row = 0; row < 3; row++)
        {
            for (int col = 0; col < 3; col++)
            {
                r[row, col] *= scale[col];
            }
        }

        return r;
    }

    /// <summary>The machine epsilon of float32, 2⁻²³ (numpy's <c>finfo(float32).eps</c>).</summary>
    private const double Float32Eps = 1.1920928955078125e-07;

    /// <summary>
    /// The affine of the canonical array: (w, h, d, 1) → RAS+ mm, i.e. the NIfTI affine of the canonical data stored
    /// with W fastest. <paramref name="m"/> is the stored axes' 3×4 voxel-to-world matrix (world = M·(i, j, k, 1)).
    /// </summary>
    public static double[,] CanonicalAffine(double[,] m, int ni, int nj, int nk, int[] worldAxis, int[] sign) =>
        Reorder(m, [ni, nj, nk], worldAxis, sign, toCanonical: true);

    /// <summary>
    /// The inverse of <see cref="CanonicalAffine"/>: the 4×4 affine of stored axes (i, j, k) with the given
    /// orientation, from the affine of the canonical (<paramref name="d"/>, <paramref name="h"/>,
    /// <paramref name="w"/>) array.
    /// </summary>
    public static double[,] StoredAffine(double[,] canonical, int d, int h, int w, int[] worldAxis, int[] sign)
    {
        int[] canonicalSize = [d, h, w];
        return Reorder(canonical, [.. worldAxis.Select(a => canonicalSize[2 - a])], worldAxis, sign, toCanonical: false);
    }

    // Moves voxel axis v (stored size n[v]) between its stored column v and its canonical column worldAxis[v]
    // (canonical axis 2 − worldAxis[v] is NIfTI column worldAxis[v]), reversed when it points towards +R, +A or +S:
    // index s ↔ n − 1 − s, so the column changes sign and the origin moves to the far end. The same map both ways.
    private static double[,] Reorder(double[,] from, int[] n, int[] worldAxis, int[] sign, bool toCanonical)
    {
        var to = new double[4, 4];
        to[3, 3] = 1;
        for (int r = 0; r < 3; r++)
        {
            to[r, 3] = from[r, 3];
        }

        for (int v = 0; v < 3; v++)
        {
            int src = toCanonical ? v : worldAxis[v];
            int dst = toCanonical ? worldAxis[v] : v;
            bool flip = sign[v] > 0;
            for (int r = 0; r < 3; r++)
            {
                to[r, dst] = flip ? -from[r, src] : from[r, src];
                if (flip)
                {
                    to[r, 3] += from[r, src] * (n[v] - 1);
                }
            }
        }

        return to;
    }

    /// <summary>Voxel sizes (D, H, W) in mm of a canonical affine: the lengths of its d, h and w columns.</summary>
    public static (double D, double H, double W) Spacing(double[,] affine)
    {
        double Len(int c) => Math.Sqrt(affine[0, c] * affine[0, c] + affine[1, c] * affine[1, c] + affine[2, c] * affine[2, c]);
        return (Len(2), Len(1), Len(0));
    }
}
