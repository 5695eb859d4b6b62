import RealModule

/// Models that ship inside the package, so `diffuse sample` works with no files at all.
public enum BuiltInModels {
    /// The names `--model` accepts, default first.
    public static let names = ["glyphs-8x8", "mixture-2d"]

    /// The built-in model called `name`, or `nil`.
    public static func model(named name: String) -> GaussianMixture? {
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
        return try! GaussianMixture(weights: weights, means: means, stds: stds, sampleShape: [2],
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
        return try! GaussianMixture(weights: Array(repeating: 1, count: 10), means: means, stds: stds,
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
