if (args.Length > 0 && args[0] == "cpu-gemm")
    return Med2E3.Native.Benchmarks.Cpu.CpuGemmBenchmark.Run(args[1..]);

Console.WriteLine("med2e3-bench");
return 0;
