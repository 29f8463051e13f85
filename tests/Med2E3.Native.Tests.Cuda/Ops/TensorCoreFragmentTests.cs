using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Cuda.Ops;

/// <summary>
/// One warp of the instructions the tensor-core attention kernels are built on — <c>cp.async</c> (16 bytes, with and
/// without zero fill) with <c>cp.async.commit_group</c> / <c>cp.async.wait_group</c>, <c>ldmatrix.x4</c>,
/// <c>ldmatrix.x4.trans</c> and <c>mma.sync.m16n8k16</c> (bf16 in, f32 accumulate) — through the very helpers of
/// kernels/attention.cu, against the data movement and fragment layouts of the PTX ISA written out here. The inputs are small integers,
/// so every product and sum is exact and the result is bit-exact on any implementation: on a GPU this checks the
/// layouts the kernel (and the emulator's model of them) assume; on the emulated device it checks the model.
/// <c>MED2E3_FRAGMENT_PROBE=&lt;file&gt;</c> writes every lane's registers, so scripts/device-check.sh can compare a
/// GPU with the emulator bit for bit.
/// </summary>
public class TensorCoreFragmentTests(TestDevice fixture)
{
    private const int Lanes = 32, PerLane = 20;

    private const string Source = """
        #include "attention.cu"

        // A (16×16, row-major), B (16×16 as [k][n]) and C (16×16) in, every lane's registers out (20 words per lane:
        // the ldmatrix.x4 of A, the ldmatrix.x4.trans of B, D = A·B + C for the two n8 tiles as f32 bits, then the
        // 16 bytes a zero-filling cp.async left in the lane's piece of shared memory).
        extern "C" __global__ void fragment_probe(const bf16_t* a, const bf16_t* b, const float* c, u32* out)
        {
            extern __shared__ __align__(16) bf16_t probe_smem[];
            constexpr int LD = 24;  // 16 + 8 of padding, as attention.cu pads its rows: 48 bytes, 16-byte aligned
            bf16_t* as = probe_smem;
            bf16_t* bs = probe_smem + 16 * LD;
            u32* zs = (u32*)(probe_smem + 32 * LD);  // 4 words per lane
            const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
            for (int k = 0; k < 4; k++) zs[4 * lane + k] = 0xa5a5a5a5u;
            __syncwarp();
            // Lane l copies 16 bytes (8 bf16) of row l / 2 of A in one group and of B in the next; then even lanes
            // copy 4 floats of C over their pattern and odd lanes copy nothing (src-size 0: 16 zero bytes).
            const int row = lane >> 1, half = 8 * (lane & 1);
            cp_async16(as + row * LD + half, a + row * 16 + half, true);
            cp_async_commit();
            cp_async16(bs + row * LD + half, b + row * 16 + half, true);
            cp_async_commit();
            cp_async16(zs + 4 * lane, c + 4 * lane, (lane & 1) == 0);
            cp_async_commit();
            cp_async_wait<2>();  // the A group is complete; B and the zero fill may still be in flight
            __syncwarp();
            u32 ra[4], rb[4];
            // lanes 8m … 8m+7 name the rows of matrix m: rows 0-7 / 8-15 (bit 3 of the lane), columns 0-7 / 8-15 (bit 4)
            const int mrow = (lane & 7) + 8 * ((lane >> 3) & 1), col = 8 * (lane >> 4);
            ldsm_x4(ra, as + mrow * LD + col);
            cp_async_wait<0>();
            __syncwarp();
            ldsm_x4_trans(rb, bs + mrow * LD + col);
            float d0[4], d1[4];
            for (int e = 0; e < 4; e++) {
                const int r = g + 8 * (e >> 1), cc = 2 * t + (e & 1);
                d0[e] = c[r * 16 + cc];
                d1[e] = c[r * 16 + 8 + cc];
            }
            mma_bf16_16816(d0, ra, rb[0], rb[1]);
            mma_bf16_16816(d1, ra, rb[2], rb[3]);
            u32* o = out + lane * 20;
            for (int k = 0; k < 4; k++) {
                o[k] = ra[k];
                o[4 + k] = rb[k];
                o[8 + k] = __float_as_uint(d0[k]);
                o[12 + k] = __float_as_uint(d1[k]);
                o[16 + k] = zs[4 * lane + k];
            }
        }
        """;

    [CudaFact]
    public void LdmatrixAndMmaFollowThePtxFragmentLayouts()
    {
        // Small integers: exact in bf16, and every dot product is exact in f32.
        float[] a = [.. Enumerable.Range(0, 256).Select(e => (float)((e / 16 * 3 + e % 16) % 7 - 3))];
        float[] b = [.. Enumerable.Range(0, 256).Select(e => (float)((e / 16 * 5 + e % 16) % 5 - 2))];
        float[] c = [.. Enumerable.Range(0, 256).Select(e => (float)(e / 16 - e % 16))];
        var headers = new Dictionary<string, string>(KernelSources.Headers) { ["attention.cu"] = KernelSources.Read("attention.cu") };
        KernelBinary binary = KernelCompiler.Compile("fragment_probe.cu", Source, headers, fixture.Device.Arch, KernelSources.Flags, false);
        using var module = new CudaModule(fixture.Device, binary);
        using var da = fixture.Device.Pool.Rent<ushort>(256);
        using var db = fixture.Device.Pool.Rent<ushort>(256);
        using var dc = fixture.Device.Pool.Rent<float>(256);
        using var dout = fixture.Device.Pool.Rent<uint>(Lanes * PerLane);
        fixture.Stream.Upload<ushort>(Runtime.CpuReference.ToBf16(a), da.Pointer);
        fixture.Stream.Upload<ushort>(Runtime.CpuReference.ToBf16(b), db.Pointer);
        fixture.Stream.Upload<float>(c, dc.Pointer);
        module.GetFunction("fragment_probe").Launch(fixture.Stream, 1, Lanes, 2 * 16 * 24 * sizeof(ushort) + 512,
            new KernelArgs().Add(da).Add(db).Add(dc).Add(dout));
        uint[] got = fixture.Stream.Download(dout);

        if (Environment.GetEnvironmentVariable("MED2E3_FRAGMENT_PROBE") is { Length: > 0 } path)
        {
            File.WriteAllLines(path, Enumerable.Range(0, Lanes * PerLane)
                .Select(i => $"lane {i / PerLane,2} word {i % PerLane,2} 0x{got[i]:x8}"));
        }

        uint[] want = Expected(a, b, c);
        for (int i = 0; i < want.Length; i++)
        {
            Assert.True(got[i] == want[i], $"lane {i / PerLane} word {i % PerLane} ({What(i % PerLane)}): "
                + $"0x{got[i]:x8}, the PTX layout gives 0x{want[i]:x8}");
        }
    }

    private static string What(int word) => word switch
    {
        < 4 => $"ldmatrix.x4 register {word}",
        < 8 => $"ldmatrix.x4.trans register {word - 4}",
        < 12 => $"mma d[{word - 8}] of n-tile 0",
        < 16 => $"mma d[{word - 12}] of n-tile 1",
        _ => $"cp.async word {word - 16} (zero fill on odd lanes)",
    };

    // The PTX ISA's fragment layouts ("Warp-level matrix load instruction: ldmatrix" and "Matrix Fragments for
    // mma.m16n8k16 with floating point type"), with g = lane / 4 and t = lane % 4.
    private static uint[] Expected(float[] a, float[] b, float[] c)
    {
        ushort A(int r, int k) => Runtime.CpuReference.ToBf16(a[r * 16 + k]);
        ushort B(int k, int n) => Runtime.CpuReference.ToBf16(b[k * 16 + n]);
        uint Pair(ushort lo, ushort hi) => lo | (uint)hi << 16;
        var want = new uint[Lanes * PerLane];
        for (int lane = 0; lane < Lanes; lane++)
        {
            int g = lane / 4, t = lane % 4;
            for (int m = 0; m < 4; m++)
            {
                // matrix m of a 16×16 tile: rows 8·(m % 2) …, columns 8·(m / 2) …
                int r0 = 8 * (m % 2), c0 = 8 * (m / 2);
                // ldmatrix: lane l holds row l / 4, columns 2(l % 4) and 2(l % 4) + 1 of each matrix
                want[lane * PerLane + m] = Pair(A(r0 + g, c0 + 2 * t), A(r0 + g, c0 + 2 * t + 1));
                // .trans: rows 2(l % 4) and 2(l % 4) + 1, column l / 4
                want[lane * PerLane + 4 + m] = Pair(B(r0 + 2 * t, c0 + g), B(r0 + 2 * t + 1, c0 + g));
            }

            for (int tile = 0; tile < 2; tile++)
            {
                for (int e = 0; e < 4; e++)
                {
                    // D (16×8): d[e] is row g + 8·(e / 2), column 2t + e % 2
                    int row = g + 8 * (e / 2), col = 8 * tile + 2 * t + e % 2;
                    double sum = c[row * 16 + col];
                    for (int k = 0; k < 16; k++)
                    {
                        sum += (double)a[row * 16 + k] * b[k * 16 + col];
                    }

                    want[lane * PerLane + 8 + 4 * tile + e] = BitConverter.SingleToUInt32Bits((float)sum);
                }
            }

            // cp.async of 16 bytes: C[4l … 4l+3] on even lanes; 16 zero bytes where src-size is 0 (odd lanes).
            for (int k = 0; k < 4; k++)
                want[lane * PerLane + 16 + k] = lane % 2 == 0 ? BitConverter.SingleToUInt32Bits(c[4 * lane + k]) : 0u;
        }

        return want;
    }
}
