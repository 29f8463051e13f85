namespace Med2E3.Native.Runtime;

/// <summary>
/// A failed call into the CUDA driver, NVRTC, cuBLAS or cuBLASLt. The message names the call expression, the native
/// error name and code, and the library's own description.
/// </summary>
public class CudaException : Exception
{
    /// <summary>Creates the exception for a failed native call.</summary>
    /// <param name="library">The library that failed, e.g. "CUDA driver".</param>
    /// <param name="code">The native result code.</param>
    /// <param name="errorName">The native error name, e.g. <c>CUDA_ERROR_OUT_OF_MEMORY</c>.</param>
    /// <param name="description">The library's description of the error (may be empty).</param>
    /// <param name="expression">The failing call as written in the source.</param>
    public CudaException(string library, int code, string errorName, string description, string? expression)
        : base(Format(library, code, errorName, description, expression))
    {
        Library = library;
        Code = code;
        ErrorName = errorName;
        Description = description;
        Expression = expression;
    }

    /// <summary>Creates the exception with a custom message (used by higher-level checks).</summary>
    /// <param name="message">The message.</param>
    /// <param name="library">The library that failed.</param>
    /// <param name="code">The native result code.</param>
    /// <param name="errorName">The native error name.</param>
    /// <param name="expression">What was being done.</param>
    public CudaException(string message, string library, int code, string errorName, string? expression)
        : base(message)
    {
        Library = library;
        Code = code;
        ErrorName = errorName;
        Description = string.Empty;
        Expression = expression;
    }

    /// <summary>The library that reported the error.</summary>
    public string Library { get; }

    /// <summary>The native result code.</summary>
    public int Code { get; }

    /// <summary>The native error name, e.g. <c>CUDA_ERROR_ILLEGAL_ADDRESS</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The library's description of the error.</summary>
    public string Description { get; }

    /// <summary>The failing call expression.</summary>
    public string? Expression { get; }

    private static string Format(string library, int code, string errorName, string description, string? expression)
    {
        string what = string.IsNullOrEmpty(expression) ? $"{library} call" : expression;
        string tail = string.IsNullOrEmpty(description) ? string.Empty : $": {description}";
        return $"{what} failed with {errorName} ({code}){tail}";
    }
}
