using Med2E3.Native.Formats.Volumes;

namespace Med2E3.Native.Models.Input;

/// <summary>How <see cref="Preprocess"/> brings voxel values to the model's [0, 1] range.</summary>
public enum IntensityMode
{
    /// <summary>
    /// As the reference does for its own data: a .npy volume (or one made in memory) whose values all lie in [0, 1]
    /// is kept as it is, like M3D's pre-normalised files; any other .npy is min–max scaled, with a warning that says
    /// so; NIfTI and DICOM volumes (raw intensities, e.g. Hounsfield units) are min–max scaled.
    /// </summary>
    Auto,

    /// <summary>Values are passed to the model unchanged, whatever their range.</summary>
    AsIs,

    /// <summary>Whole-volume min–max scaling to [0, 1] for every format.</summary>
    MinMax,
}
