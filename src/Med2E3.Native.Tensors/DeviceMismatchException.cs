namespace Med2E3.Native.Tensors;

/// <summary>Thrown when the inputs of an op live on different devices.</summary>
/// <param name="op">Op name.</param>
/// <param name="a">First device.</param>
/// <param name="b">Second device.</param>
public sealed class DeviceMismatchException(string op, Device a, Device b)
    : InvalidOperationException($"{op}: device mismatch {a} vs {b}")
{
    /// <summary>The op that failed.</summary>
    public string Op { get; } = op;

    /// <summary>First device.</summary>
    public Device DeviceA { get; } = a;

    /// <summary>Second device.</summary>
    public Device DeviceB { get; } = b;
}
