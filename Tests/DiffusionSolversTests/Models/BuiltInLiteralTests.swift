import Testing
import DiffusionSolvers

/// Built-in values made from literals without their throwing checks must pass those checks.
@Suite("Built-in literals")
struct BuiltInLiteralTests {
    @Test("the built-in mixtures pass GaussianMixture's checks", arguments: [BuiltInModels.ring, BuiltInModels.glyphs])
    func mixtures(mixture: GaussianMixture) throws {
        let checked = try GaussianMixture(weights: mixture.weights, means: mixture.means, stds: mixture.stds,
                                          sampleShape: mixture.sampleShape, labels: mixture.labels, name: mixture.name)
        #expect(checked.means == mixture.means && checked.stds == mixture.stds && checked.sampleShape == mixture.sampleShape)
        for (a, b) in zip(checked.weights, mixture.weights) { #expect(abs(a - b) <= 1e-15) }
    }

    @Test("the published SD-2.1 compensation coefficients pass CascadePolynomialRegression's checks")
    func stableDiffusion21() throws {
        let cpr = CascadePolynomialRegression.stableDiffusion21
        try cpr.validate()
        #expect(try CascadePolynomialRegression(coefficients: cpr.coefficients) == cpr)
    }
}
