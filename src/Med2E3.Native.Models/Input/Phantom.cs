using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>
/// A deterministic synthetic abdominal CT phantom, for demos and tests: an elliptical body with a fat rim, liver
/// with a hypodense lesion, spleen, kidneys, aorta and a vertebra, in Hounsfield units, with mild noise.
/// </summary>
/// <remarks>
/// The array is in the canonical (D, H, W) layout (see <see cref="Volume"/>): slice 0 is the most superior, row 0 the
/// most anterior, column 0 the patient's right — so the liver appears on the left of each slice, as on a clinical
/// viewer. Geometry is defined on normalised coordinates in (−1, 1), so any size gives the same anatomy; values are
/// whole Hounsfield units and depend only on the size and the seed (no floating-point library calls beyond + − × ÷),
/// so files written from it are reproducible bit for bit.
/// </remarks>
public static class Phantom
{
    /// <summary>Air outside the body.</summary>
    public const float AirHu = -1000f;

    /// <summary>Liver parenchyma.</summary>
    public const float LiverHu = 60f;

    /// <summary>The lesion inside the liver (hypodense).</summary>
    public const float LesionHu = -10f;

    /// <summary>The abdominal soft-tissue window (level 40, width 400) used for the M3D-style sample.</summary>
    public static (float Lo, float Hi) SoftTissueWindow => (-160f, 240f);

    /// <summary>Amplitude of the uniform integer noise added inside the body, in HU.</summary>
    public const int NoiseHu = 6;

    /// <summary>The phantom in Hounsfield units, (<paramref name="d"/>, <paramref name="h"/>, <paramref name="w"/>).</summary>
    public static float[] CtHu(int d, int h, int w, ulong seed = 2411)
    {
        if (d < 1 || h < 1 || w < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(d), $"size {d}×{h}×{w} must be positive");
        }

        var v = new float[(long)d * h * w];
        Parallel.For(0, d, z =>
        {
            double zc = 2.0 * (z + 0.5) / d - 1.0; // −1 superior … +1 inferior
            for (int y = 0; y < h; y++)
            {
                double yc = 2.0 * (y + 0.5) / h - 1.0; // −1 anterior … +1 posterior
                for (int x = 0; x < w; x++)
                {
                    double xc = 2.0 * (x + 0.5) / w - 1.0; // −1 patient right … +1 patient left
                    long i = ((long)z * h + y) * w + x;
                    double hu = Tissue(xc, yc, zc);
                    if (hu > AirHu)
                    {
                        hu += Noise((ulong)i, seed);
                    }

                    v[i] = (float)hu;
                }
            }
        });
        return v;
    }

    /// <summary>
    /// The phantom as M3D's data preparation would store it (spec §1.1): the soft-tissue window, then min–max
    /// normalisation to [0,1]. Air becomes exactly 0.
    /// </summary>
    public static float[] M3DStyle(int d, int h, int w, ulong seed = 2411)
    {
        var v = CtHu(d, h, w, seed);
        Preprocess.Window(v, SoftTissueWindow.Lo, SoftTissueWindow.Hi);
        Preprocess.MinMaxNormalize(v);
        return v;
    }

    /// <summary>True where the lesion is, for the same normalised coordinates as <see cref="CtHu"/>.</summary>
    public static bool InLesion(double xc, double yc, double zc) => Ellipsoid(xc, yc, zc, -0.45, -0.12, -0.05, 0.15, 0.15, 0.30);

    private static double Tissue(double x, double y, double z)
    {
        double body = Sq(x / 0.88) + Sq((y - 0.04) / 0.66);
        if (body > 1.0)
        {
            return AirHu;
        }

        if (Circle(x, y, 0.0, 0.50, 0.05))
        {
            return 20; // spinal canal
        }

        if (Circle(x, y, 0.0, 0.44, 0.12))
        {
            return 700; // vertebral body
        }

        if (Circle(x, y, 0.10, 0.24, 0.065))
        {
            return 180; // aorta, contrast-enhanced
        }

        if (InLesion(x, y, z))
        {
            return LesionHu;
        }

        if (Ellipsoid(x, y, z, -0.38, -0.08, -0.25, 0.40, 0.36, 0.75))
        {
            return LiverHu;
        }

        if (Ellipsoid(x, y, z, 0.55, 0.22, -0.35, 0.17, 0.20, 0.40))
        {
            return 50; // spleen
        }

        if (Ellipsoid(x, y, z, -0.36, 0.34, 0.25, 0.12, 0.15, 0.40) || Ellipsoid(x, y, z, 0.36, 0.34, 0.30, 0.12, 0.15, 0.40))
        {
            return 150; // kidneys, enhancing cortex
        }

        return body > 0.86 ? -90 : 40; // subcutaneous fat rim, then soft tissue
    }

    private static bool Circle(double x, double y, double cx, double cy, double r) => Sq(x - cx) + Sq(y - cy) <= r * r;

    private static bool Ellipsoid(double x, double y, double z, double cx, double cy, double cz, double rx, double ry, double rz) =>
        Sq((x - cx) / rx) + Sq((y - cy) / ry) + Sq((z - cz) / rz) <= 1.0;

    private static double Sq(double v) => v * v;

    /// <summary>Uniform integer noise in [−NoiseHu, NoiseHu] from a SplitMix64 hash of the voxel index.</summary>
    private static int Noise(ulong i, ulong seed)
    {
        ulong z = i * 0x9E3779B97F4A7C15UL + seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z % (2 * NoiseHu + 1)) - NoiseHu;
    }
}
