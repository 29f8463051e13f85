namespace Med2E3.Native.Runtime;

/// <summary>A CUDA feature was requested on a machine where the needed library or device is missing.</summary>
public sealed class CudaUnavailableException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is missing and where it was looked for.</param>
    public CudaUnavailableException(string message)
        : base(message)
    {
    }
}
