using Med2E3.Native.Models.Multimodal;
using Med2E3.Native.Tensors;

namespace Med2E3.Native.Tests.Model;

[CollectionDefinition(nameof(LeakTests), DisableParallelization = true)]
public sealed class LeakTestsCollection;

/// <summary>
/// Whole-model runs leave no tensor alive: the process-wide counter <see cref="TensorStats.Live"/> returns to its start
/// value. Runs alone (no other test creates tensors meanwhile).
/// </summary>
[Collection(nameof(LeakTests))]
public class LeakTests
{
    [Fact]
    public void LoadGenerateTrainAndDisposeLeaveNoLiveTensor()
    {
        long before = TensorStats.Live;
        var fx = Med2E3.Native.Models.Golden.GoldenFixture.Open(ModelFixture.Fixture);
        var info = fx.Tensor("input.volume");
        using (var model = Med2E3Model.Load(ModelFixture.Checkpoint, "cpu",
                   new Med2E3LoadOptions { BertVocabPath = ModelFixture.BertVocab }))
        using (var volume = Tensor.FromFloats(info.ToFloat32(), info.GetShape(), DType.F32))
        {
            Assert.True(TensorStats.Live > before);
            model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 5 });
            model.Generate(volume, fx.Question, new GenerationOptions { MaxNewTokens = 5, Temperature = 0.7, Seed = 3 });
            model.EnableFineTuning(gradientCheckpointing: true);
            using (var loss = model.Loss(volume, fx.Question, fx.Answer))
            {
                loss.Backward();
            }
            model.Parameters.ZeroGrad();
        }
        Assert.Equal(before, TensorStats.Live);
    }

    [Fact]
    public void GoldenCheckLeavesNoLiveTensor()
    {
        long before = TensorStats.Live;
        var report = Med2E3.Native.Models.Golden.GoldenCheck.Run(ModelFixture.Fixture);
        Assert.True(report.Passed);
        Assert.Equal(before, TensorStats.Live);
    }
}
