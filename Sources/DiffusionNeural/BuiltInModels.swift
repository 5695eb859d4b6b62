import Foundation
import RealModule
import DiffusionCore

/// Models that ship inside the package, so `diffuse sample` works with no files at all: trained
/// networks (package resources, each with a model card) and Gaussian mixtures with exact denoisers.
public enum BuiltInModels {
    /// The names `--model` accepts, default first.
    public static let names = networkNames + fewStepNetworkNames + mixtureNames
    /// The built-in trained networks (diffusers UNet2DModel folders under `Resources/Models`).
    public static let networkNames = ["digits", "photos", "digits-flow"]
    /// The built-in distilled few-step networks: UNet2DModel folders like the others, sampled by
    /// the solver their scheduler config names (`LCMScheduler`: `lcm`), not by an ODE solver, so
    /// they carry no `tuned.json`.
    public static let fewStepNetworkNames = ["digits-lcm"]
    /// The built-in Gaussian mixtures (exact denoisers).
    public static let mixtureNames = ["glyphs-8x8", "mixture-2d"]
    /// The model `diffuse sample` uses when none is named.
    public static var defaultName: String { names[0] }

    /// The resource folder of each network and the file of the feature classifier trained on its data.
    private static let networkFiles = [
        "digits": (folder: "digits-unet", classifier: "digits-classifier.safetensors"),
        "photos": (folder: "photos-unet", classifier: "photos-classifier.safetensors"),
        "digits-flow": (folder: "digits-flow", classifier: "digits-classifier.safetensors"),
        "digits-lcm": (folder: "digits-lcm", classifier: "digits-classifier.safetensors"),
    ]

    /// The built-in masked-diffusion networks (token models; `DiffusionDiscrete`'s
    /// `UNetMaskedModel` runs them).
    public static let maskedNetworkNames = ["digits-masked"]

    /// The resource folder of the built-in masked network `name`, or `nil` for other names.
    public static func maskedNetworkDirectory(named name: String) -> URL? {
        maskedNetworkNames.contains(name) ? modelsDirectory.appendingPathComponent(name, isDirectory: true) : nil
    }

    /// The built-in mean-reverting networks (``UNetMeanRevertingModel``; `diffuse restore`).
    public static let meanRevertingNetworkNames = ["digits-mr"]

    /// The built-in mean-reverting network `name`, or `nil` for other names.
    /// - Throws: when the shipped network cannot be loaded (a damaged installation).
    public static func meanRevertingModel(named name: String) throws -> UNetMeanRevertingModel? {
        guard meanRevertingNetworkNames.contains(name) else { return nil }
        return try UNetMeanRevertingModel(directory: modelsDirectory.appendingPathComponent(name, isDirectory: true), name: name)
    }

    /// Where the shipped networks are.
    static var modelsDirectory: URL {
        Bundle.module.bundleURL.appendingPathComponent("Resources/Models", isDirectory: true)
    }

    /// The built-in model called `name`, or `nil` when no built-in model has that name.
    /// - Throws: when a shipped network cannot be loaded (a damaged installation).
    public static func model(named name: String) throws -> (any DiffusionModel)? {
        if let files = networkFiles[name] {
            return try UNetDiffusionModel(directory: modelsDirectory.appendingPathComponent(files.folder, isDirectory: true), name: name)
        }
        return mixture(named: name)
    }

    /// The file of the feature classifier trained on the data of the built-in network `name`, or
    /// `nil` for other names (`FeatureClassifier` reads it, for Fréchet distances to that data).
    public static func classifierURL(for name: String) -> URL? {
        networkFiles[name].map { modelsDirectory.appendingPathComponent($0.classifier) }
    }

    /// The built-in Gaussian mixture called `name`, or `nil`.
    public static func mixture(named name: String) -> GaussianMixture? {
        switch name {
        case "glyphs-8x8": return glyphs
        case "mixture-2d": return ring
        default: return nil
        }
    }

    /// Eight Gaussians on a circle of radius 1.6 around a ninth, with unequal weights and
    /// anisotropic spreads: a 2-D density whose modes a sampler must keep apart. Labelled by
    /// component.
    public static let ring: GaussianMixture = {
        var weights: [Double] = [], means: [Double] = [], stds: [Double] = []
        for k in 0..<8 {
            let angle = Double(k) * Double.pi / 4
            weights.append(1 + Double(k % 3) * 0.5)
            means += [1.6 * Double.cos(angle), 1.6 * Double.sin(angle)]
            stds += [0.08 + 0.04 * Double(k % 2), 0.12 - 0.03 * Double(k % 2)]
        }
        weights.append(1.5)
        means += [0, 0]
        stds += [0.25, 0.25]
        return GaussianMixture(literalWeights: weights, means: means, stds: stds, sampleShape: [2],
                               labels: Array(0..<9), name: "mixture-2d")
    }()

    /// Ten 8x8 grayscale digit glyphs, one Gaussian each (pixels in [−1, 1], per-pixel standard
    /// deviation 0.2), labelled 0–9: an image-shaped model whose samples are recognisable.
    public static let glyphs: GaussianMixture = {
        var means: [Double] = [], stds: [Double] = []
        for glyph in digitGlyphs {
            precondition(glyph.count == 8 && glyph.allSatisfy { $0.count == 8 })
            for row in glyph { for ch in row { means.append(ch == "#" ? 0.9 : -0.9); stds.append(0.2) } }
        }
        return GaussianMixture(literalWeights: Array(repeating: 1, count: 10), means: means, stds: stds,
                               sampleShape: [1, 8, 8], labels: Array(0..<10), name: "glyphs-8x8")
    }()

    private static let digitGlyphs: [[String]] = [
        ["........", "..####..", ".##..##.", ".##..##.", ".##..##.", ".##..##.", "..####..", "........"],
        ["........", "...##...", "..###...", "...##...", "...##...", "...##...", "..####..", "........"],
        ["........", "..####..", ".##..##.", "....##..", "...##...", "..##....", ".######.", "........"],
        ["........", ".#####..", ".....##.", "..####..", ".....##.", ".....##.", ".#####..", "........"],
        ["........", "....##..", "...###..", "..#.##..", ".######.", "....##..", "....##..", "........"],
        ["........", ".######.", ".##.....", ".#####..", ".....##.", ".##..##.", "..####..", "........"],
        ["........", "..####..", ".##.....", ".#####..", ".##..##.", ".##..##.", "..####..", "........"],
        ["........", ".######.", ".....##.", "....##..", "...##...", "...##...", "...##...", "........"],
        ["........", "..####..", ".##..##.", "..####..", ".##..##.", ".##..##.", "..####..", "........"],
        ["........", "..####..", ".##..##.", ".##..##.", "..#####.", ".....##.", "..####..", "........"],
    ]
}
