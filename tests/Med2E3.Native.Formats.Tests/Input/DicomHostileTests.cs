using System.Buffers.Binary;
using System.Diagnostics;
using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Tests.Input;

/// <summary>
/// Hostile DICOM input: seeded mutations of every fixture file (bytes flipped, lengths made huge, the file cut short)
/// either read or fail with a <see cref="VolumeFormatException"/> naming the file on one line; never another exception,
/// never an allocation far beyond what the file could hold, never a long run.
/// </summary>
public class DicomHostileTests(ITestOutputHelper output)
{
    private static readonly string Root = Path.Combine(TestData.Root, "dicom");

    public static TheoryData<string> Files() => new(
        Directory.EnumerateFiles(Path.Combine(Root, "series"), "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains("hostile", StringComparison.Ordinal) && !f.EndsWith(".txt", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(Root, f))
            .GroupBy(f => Path.GetDirectoryName(f))
            .Select(g => g.Order(StringComparer.Ordinal).First())
            .Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Files))]
    public void MutatedFilesReadOrFailWithAOneLineMessage(string name)
    {
        byte[] original = File.ReadAllBytes(Path.Combine(Root, name));
        var rng = new Random(name.Aggregate(2411, (h, c) => h * 31 + c)); // stable across runs, unlike GetHashCode
        int sweeps = 120;
        using var dir = new TempDir();
        int read = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (int n = 0; n < sweeps; n++)
        {
            byte[] bytes = Mutate(original, rng, n);
            string path = dir.Write($"m{n}", bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var v = VolumeReader.Read(path);
                Assert.True(v.VoxelCount > 0);
                read++;
            }
            catch (VolumeFormatException e)
            {
                Assert.Equal(path, e.FilePath);
                Assert.DoesNotContain('\n', e.Message);
                Assert.True(e.Message.Length < 800, e.Message);
                refused++;
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 64L * bytes.Length + (16 << 20), $"mutation {n}: {allocated} bytes allocated for a {bytes.Length}-byte file");
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"{clock.Elapsed} for {sweeps} mutations");
        output.WriteLine($"{name}: {sweeps} mutations, {read} read, {refused} refused, {clock.Elapsed.TotalSeconds:0.00} s");
    }

    // Three kinds, in turn: random bytes overwritten, a 16- or 32-bit length field made huge, the file cut short.
    private static byte[] Mutate(byte[] original, Random rng, int n)
    {
        var b = (byte[])original.Clone();
        switch (n % 3)
        {
            case 0:
                for (int k = rng.Next(1, 9); k > 0; k--)
                {
                    b[rng.Next(128, b.Length)] = (byte)rng.Next(256);
                }

                return b;
            case 1:
                int at = rng.Next(132, b.Length - 4);
                if (rng.Next(2) == 0)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), (uint)rng.Next(1 << 20, int.MaxValue));
                }
                else
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), (ushort)rng.Next(0x8000, 0x10000));
                }

                return b;
            default:
                return b[..rng.Next(1, b.Length)];
        }
    }
}
