using System.Runtime.InteropServices;
using Med2E3.Native.Runtime;

namespace Med2E3.Native.Tests.Runtime;

/// <summary>The launch argument list: each value at a naturally aligned slot, one pointer per argument.</summary>
public class KernelArgsTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Pair
    {
        public int A;
        public float B;
    }

    [Fact]
    public unsafe void ValuesAreStoredAlignedAndPointedTo()
    {
        KernelArgs args = new KernelArgs().Add(0x1122334455667788UL).Add(7).Add(2.5f).Add((short)-3).Add(42L)
            .Add(new Pair { A = 9, B = 0.5f });
        Assert.Equal(6, args.Count);
        byte* values = stackalloc byte[args.ByteCount];
        void** pointers = stackalloc void*[args.Count];
        args.CopyTo(values, pointers);
        Assert.Equal(0x1122334455667788UL, *(ulong*)pointers[0]);
        Assert.Equal(7, *(int*)pointers[1]);
        Assert.Equal(2.5f, *(float*)pointers[2]);
        Assert.Equal((short)-3, *(short*)pointers[3]);
        Assert.Equal(42L, *(long*)pointers[4]);
        Assert.Equal(9, ((Pair*)pointers[5])->A);
        Assert.Equal(0.5f, ((Pair*)pointers[5])->B);
        Assert.Equal(0, ((long)pointers[4] - (long)values) % 8);
        Assert.Equal(32 + 8, args.ByteCount);
    }

    [Fact]
    public void TooManyArgumentsIsAClearError()
    {
        var args = new KernelArgs();
        for (int i = 0; i < KernelArgs.MaxCount; i++)
        {
            args.Add(i);
        }

        var e = Assert.Throws<InvalidOperationException>(() => args.Add(1));
        Assert.Contains("params struct", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dim3ConvertsAndCeilDivides()
    {
        Dim3 d = 5;
        Assert.Equal(new Dim3(5, 1, 1), d);
        Dim3 e = (2, 3);
        Assert.Equal(6, e.Total);
        Assert.Equal(4u, Dim3.CeilDiv(1000, 256));
        Assert.Equal(1u, Dim3.CeilDiv(1, 256));
    }
}
