using System.Diagnostics;
using Med2E3.Native.Ops;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Benchmarks.Cpu;

/// <summary>
/// med2e3-bench cpu-ops [--repeats R] [--backward]: times the CPU backend's fast paths (and, with --backward, the
/// backward of each op) at the shapes the real Med-2E3 model uses. Median of R runs after one warm-up.
/// </summary>
public static class CpuOpsBenchmark
{
    public static int Run(string[] args)
    {
        int repeats = 5;
        bool backward = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats") repeats = int.Parse(args[++i]);
            else if (args[i] == "--backward") backward = true;
            else
            {
                Console.Error.WriteLine($"cpu-ops: unknown option {args[i]}");
                return 2;
            }
        }
        Console.WriteLine($"cpu-ops: {Environment.ProcessorCount} CPUs, median of {repeats} runs, f32{(backward ? ", forward + backward" : ", forward")}");
        Console.WriteLine($"{"op",-44} {"ms",10}");
        using var scope = TensorScope.Begin();
        var cases = new List<(string Name, Tensor[] Inputs, Func<Tensor[], Tensor> Fn)>
        {
            ("linear 2049x768 -> 2304 (ViT qkv)", [Tensor.Randn(1, [2049, 768]), Tensor.Randn(2, [2304, 768])], t => F.Linear(t[0], t[1])),
            ("linear 1x3072 -> 16384 (Phi-3 decode)", [Tensor.Randn(3, [1, 3072]), Tensor.Randn(4, [16384, 3072])], t => F.Linear(t[0], t[1])),
            ("attention 1x12x2049x64 (ViT)", [Tensor.Randn(5, [1, 12, 2049, 64]), Tensor.Randn(6, [1, 12, 2049, 64]), Tensor.Randn(7, [1, 12, 2049, 64])], t => F.Attention(t[0], t[1], t[2])),
            ("attention 1x32x612x96 causal (prefill)", [Tensor.Randn(8, [1, 32, 612, 96]), Tensor.Randn(9, [1, 32, 612, 96]), Tensor.Randn(10, [1, 32, 612, 96])], t => F.Attention(t[0], t[1], t[2], causal: true)),
            ("attention 1x32x1x96 vs 660 keys (decode)", [Tensor.Randn(11, [1, 32, 1, 96]), Tensor.Randn(12, [1, 32, 660, 96]), Tensor.Randn(13, [1, 32, 660, 96])], t => F.Attention(t[0], t[1], t[2], causal: true)),
            ("gelu(erf) 2049x3072", [Tensor.Randn(14, [2049, 3072])], t => F.Gelu(t[0])),
            ("gelu(tanh) 8192x4096", [Tensor.Randn(15, [8192, 4096])], t => F.GeluTanh(t[0])),
            ("gated silu 612x16384", [Tensor.Randn(16, [612, 16384])], t => F.GatedSilu(t[0])),
            ("layernorm 2049x768", [Tensor.Randn(17, [2049, 768]), Tensor.Randn(18, [768]), Tensor.Randn(19, [768])], t => F.LayerNorm(t[0], t[1], t[2], 1e-5)),
            ("rmsnorm 612x3072", [Tensor.Randn(20, [612, 3072]), Tensor.Randn(21, [3072])], t => F.RmsNorm(t[0], t[1], 1e-5)),
            ("softmax 12x2049x2049", [Tensor.Randn(22, [12, 2049, 2049])], t => F.Softmax(t[0])),
            ("add 2049x3072 + bias", [Tensor.Randn(23, [2049, 3072]), Tensor.Randn(24, [3072])], t => F.Add(t[0], t[1])),
            ("patchify3d 1x1x32x256x256 (4,16,16)", [Tensor.Randn(25, [1, 1, 32, 256, 256])], t => F.Patchify3d(t[0], 4, 16, 16)),
            ("conv2d patch 32x3x256x256 -> 1024", [Tensor.Randn(26, [32, 3, 256, 256]), Tensor.Randn(27, [1024, 3, 16, 16]), Tensor.Randn(28, [1024])], t => F.Conv2dPatch(t[0], t[1], t[2])),
            ("avgpool3d 1x768x8x16x16", [Tensor.Randn(29, [1, 768, 8, 16, 16])], t => F.AvgPool3d(t[0], [2, 2, 2], [2, 2, 2])),
            ("resize trilinear 1x1x40x512x512 -> 32x256x256", [Tensor.Randn(33, [1, 1, 40, 512, 512])], t => F.ResizeTrilinear3d(t[0], [32, 256, 256])),
            ("transpose+contiguous 1x2049x12x64", [Tensor.Randn(30, [1, 12, 2049, 64])], t => t[0].Transpose(1, 2).Contiguous()),
            ("cross-entropy 612x32064", [Tensor.Randn(31, [612, 32064]), Tensor.RandInt(32, [612], 0, 32064)], t => F.CrossEntropy(t[0], t[1])),
        };
        foreach (var (name, inputs, fn) in cases)
        {
            foreach (var x in inputs) if (backward && x.DType.IsFloating()) x.RequiresGrad = true;
            void Once()
            {
                using var s = TensorScope.Begin();
                var y = fn(inputs);
                if (backward && y.RequiresGrad)
                {
                    using var g = Tensor.Ones(y.Shape, y.DType);
                    y.Backward(g);
                }
                foreach (var x in inputs) x.ZeroGrad();
            }
            Once();
            var t = new double[repeats];
            for (int i = 0; i < repeats; i++)
            {
                var sw = Stopwatch.StartNew();
                Once();
                t[i] = sw.Elapsed.TotalMilliseconds;
            }
            Array.Sort(t);
            Console.WriteLine($"{name,-44} {t[repeats / 2],10:F2}");
        }
        return 0;
    }
}
