import Testing
@testable import DiffusionSolvers
import DiffusionTestSupport

extension Neural {
    @Suite("Convolution")
    struct ConvolutionTests {
        /// `y[o, b, i, j] = bias[o] + Σ W[o, c, u, v]·x[c, b, i·s + u − p, j·s + v − p]` in Double, batch-first.
        static func reference(_ x: [Float], batch: Int, inChannels: Int, height: Int, width: Int, weight: [Float], bias: [Float],
                              outChannels: Int, kernel: Int, stride: Int, padding: Int) -> [Double] {
            let oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1
            var y = [Double](repeating: 0, count: batch * outChannels * oh * ow)
            for b in 0..<batch {
                for o in 0..<outChannels {
                    for i in 0..<oh {
                        for j in 0..<ow {
                            var sum = Double(bias[o])
                            for c in 0..<inChannels {
                                for u in 0..<kernel {
                                    for v in 0..<kernel {
                                        let yy = i * stride + u - padding, xx = j * stride + v - padding
                                        guard (0..<height).contains(yy), (0..<width).contains(xx) else { continue }
                                        sum += Double(weight[((o * inChannels + c) * kernel + u) * kernel + v])
                                            * Double(x[((b * inChannels + c) * height + yy) * width + xx])
                                    }
                                }
                            }
                            y[((b * outChannels + o) * oh + i) * ow + j] = sum
                        }
                    }
                }
            }
            return y
        }

        /// Odd sizes, so that packed column chunks straddle output rows and samples.
        @Test("3×3 stride 1 and 2, and 1×1, against a direct Double convolution",
              arguments: [(3, 1, 1), (3, 2, 1), (1, 1, 0)])
        func direct(kernel: Int, stride: Int, padding: Int) throws {
            let (batch, inChannels, outChannels, height, width) = (3, 5, 11, 7, 9)
            let weight = TestModels.noise([1, outChannels * inChannels * kernel * kernel], seed: 21).scalars
            let bias = TestModels.noise([1, outChannels], seed: 22).scalars
            let file = SafetensorsFile(tensors: [
                "conv.weight": SafetensorsFile.float32(weight, shape: [outChannels, inChannels, kernel, kernel]),
                "conv.bias": SafetensorsFile.float32(bias, shape: [outChannels]),
            ])
            var weights = WeightReader(file: file, fileName: "test")
            let conv = try Convolution2D(&weights, "conv", inChannels: inChannels, outChannels: outChannels,
                                         kernelSize: kernel, stride: stride, padding: padding)
            let input = TestModels.noise([batch, inChannels, height, width], seed: 23)
            let workspace = NeuralWorkspace()
            workspace.beginPass()
            let x = workspace.featureMap(input)
            let size = conv.outputSize(height: height, width: width)
            let out = workspace.featureMap(channels: outChannels, batch: batch, height: size.height, width: size.width)
            conv.apply(x, into: out, workspace: workspace)
            let expected = Self.reference(input.scalars, batch: batch, inChannels: inChannels, height: height, width: width, weight: weight,
                                          bias: bias, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
            #expect(Compare.relativeRMS(out.batchMajor.map(Double.init), expected) < 1e-6)
        }
    }
}
