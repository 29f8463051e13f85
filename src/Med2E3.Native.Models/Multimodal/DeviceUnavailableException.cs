namespace Med2E3.Native.Models.Multimodal;

/// <summary>
/// The device asked for cannot run the model: no CUDA driver or device, no such ordinal, or another device already
/// in use by this process. The message says why.
/// </summary>
public sealed class DeviceUnavailableException(string message) : NotSupportedException(message);
