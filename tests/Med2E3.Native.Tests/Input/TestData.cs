namespace Med2E3.Native.Tests.Input;

/// <summary>Locates tests/data in the source tree from the test binary's directory.</summary>
internal static class TestData
{
    public static string Root { get; } = Find();

    public static string Volume(string name) => Path.Combine(Root, "volumes", name);

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "data");
            if (Directory.Exists(Path.Combine(candidate, "med2e3-tiny")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/data not found above {AppContext.BaseDirectory}");
    }
}
