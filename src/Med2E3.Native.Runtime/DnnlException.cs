namespace Med2E3.Native.Runtime;

/// <summary>A failed oneDNN call: the message names the call as written, the status name and its code.</summary>
public sealed class DnnlException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    /// <param name="status">The native <c>dnnl_status_t</c> value.</param>
    /// <param name="statusName">Its name, e.g. <c>dnnl_unimplemented</c>.</param>
    /// <param name="expression">The failing call as written in the source.</param>
    public DnnlException(int status, string statusName, string? expression)
        : base($"oneDNN: {expression} failed with {statusName} ({status})")
    {
        Status = status;
        StatusName = statusName;
        Expression = expression;
    }

    /// <summary>The native status code.</summary>
    public int Status { get; }

    /// <summary>The native status name.</summary>
    public string StatusName { get; }

    /// <summary>The failing call.</summary>
    public string? Expression { get; }
}
