using Med2E3.Native.Benchmarks.Kernels;

if (args.Length > 0 && args[0] == "kernels") return KernelBench.Run(args[1..]);
Console.WriteLine(
    "usage: med2e3-bench kernels [--op layernorm|attention|attention_decode|patch_embed|conv3d] [--reps N] [--json PATH]");
return args.Length == 0 ? 0 : 2;
