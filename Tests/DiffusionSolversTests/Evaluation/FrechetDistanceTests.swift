import Foundation
import Testing
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Fréchet distance")
struct FrechetDistanceTests {
    /// `n` feature vectors of dimension `d`: standard normal draws scaled per coordinate and shifted.
    static func features(_ n: Int, _ d: Int, seed: UInt64, shift: Double = 0, scale: Double = 1) -> [Double] {
        TestModels.noise([n, d], seed: seed).scalars.enumerated().map { i, z in
            shift + scale * (1 + 0.5 * Double(i % d) / Double(d)) * Double(z)
        }
    }

    @Test("identical feature sets are at distance 0, also with singular covariances")
    func identical() {
        for (n, d) in [(200, 16), (300, 128), (40, 128)] {  // the last has rank 39 < 128
            let x = Self.features(n, d, seed: 11)
            let stats = GaussianStatistics(samples: x, dimension: d)
            let trace = (0..<d).reduce(0.0) { $0 + stats.covariance[$1 * d + $1] }
            let fd = FrechetDistance.between(stats, stats)
            #expect(fd >= 0 && fd < 1e-10 * trace, "n = \(n), d = \(d): \(fd)")
        }
    }

    @Test("1-D Gaussians: FD = (μ₁ − μ₂)² + (σ₁ − σ₂)²")
    func oneDimensional() {
        for (m1, s1, m2, s2) in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -2.0, 3.0), (0.5, 0.1, 0.25, 4.0), (3.0, 0.0, 1.0, 2.0)] {
            let fd = FrechetDistance.between(GaussianStatistics(mean: [m1], covariance: [s1 * s1]),
                                             GaussianStatistics(mean: [m2], covariance: [s2 * s2]))
            let expected = (m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2)
            #expect(abs(fd - expected) <= 1e-14 * max(expected, 1), "\(fd) vs \(expected)")
        }
        // From samples, with covariance divided by n − 1: {0, 2} has mean 1, variance 2;
        // {1, 5} has mean 3, variance 8; FD = 2² + (√2 − √8)² = 4 + 2.
        #expect(abs(FrechetDistance.between([[0], [2]], [[1], [5]]) - 6) < 1e-14)
    }

    @Test("diagonal and commuting covariances: FD = ‖Δμ‖² + Σ(√aᵢ − √bᵢ)²")
    func commuting() {
        let a: [Double] = [1, 4, 0.25, 9, 2], b: [Double] = [4, 4, 1, 0.5, 0]
        let mu1: [Double] = [0, 1, 2, 3, 4], mu2: [Double] = [1, 1, 0, 3, 4.5]
        var expected = 0.0
        for i in 0..<5 {
            expected += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
            expected += (a[i].squareRoot() - b[i].squareRoot()) * (a[i].squareRoot() - b[i].squareRoot())
        }
        func diagonal(_ v: [Double]) -> [Double] {
            var m = [Double](repeating: 0, count: v.count * v.count)
            for i in v.indices { m[i * v.count + i] = v[i] }
            return m
        }
        let fd = FrechetDistance.between(GaussianStatistics(mean: mu1, covariance: diagonal(a)),
                                         GaussianStatistics(mean: mu2, covariance: diagonal(b)))
        #expect(abs(fd - expected) < 1e-13 * expected)

        // The same spectra in a rotated basis Q (the eigenvectors of a random symmetric matrix).
        let q = SymmetricEigen(DenseTestMatrix.randomSymmetric(5, seed: 3), dimension: 5).vectors  // rows are qₖ
        func rotated(_ v: [Double]) -> [Double] {
            var m = [Double](repeating: 0, count: 25)
            for k in 0..<5 { for i in 0..<5 { for j in 0..<5 { m[i * 5 + j] += v[k] * q[k * 5 + i] * q[k * 5 + j] } } }
            return m
        }
        let fdRotated = FrechetDistance.between(GaussianStatistics(mean: mu1, covariance: rotated(a)),
                                                GaussianStatistics(mean: mu2, covariance: rotated(b)))
        #expect(abs(fdRotated - expected) < 1e-12 * expected)
    }

    @Test("FD is symmetric and positive for different sets, and grows with the shift", arguments: [2, 32, 128])
    func symmetric(d: Int) {
        let a = Self.features(400, d, seed: 21), b = Self.features(300, d, seed: 22, shift: 0.1, scale: 1.3)
        let ab = FrechetDistance.between(a, b, dimension: d), ba = FrechetDistance.between(b, a, dimension: d)
        #expect(ab > 0)
        #expect(abs(ab - ba) < 1e-10 * ab, "\(ab) vs \(ba)")
        let far = FrechetDistance.between(a, Self.features(300, d, seed: 22, shift: 1, scale: 1.3), dimension: d)
        #expect(far > ab)
        // Rows and flat storage give the same statistics.
        let rows = stride(from: 0, to: a.count, by: d).map { Array(a[$0..<($0 + d)]) }
        #expect(GaussianStatistics(samples: rows) == GaussianStatistics(samples: a, dimension: d))
    }

    @Test("Metrics.frechetDistance is the same computation")
    func sharedWithMetrics() {
        let d = 8
        let a = GaussianStatistics(samples: Self.features(50, d, seed: 1), dimension: d)
        let b = GaussianStatistics(samples: Self.features(60, d, seed: 2, shift: 0.3), dimension: d)
        #expect(Metrics.frechetDistance(mean1: a.mean, covariance1: a.covariance, mean2: b.mean, covariance2: b.covariance)
                == FrechetDistance.between(a, b))
    }

    @Test("128-dimensional FD from 200-sample sets: time")
    func timing() {
        let d = 128
        let a = Self.features(200, d, seed: 31), b = Self.features(200, d, seed: 32, shift: 0.05)
        let sa = GaussianStatistics(samples: a, dimension: d), sb = GaussianStatistics(samples: b, dimension: d)
        var fd = 0.0
        let elapsed = ContinuousClock().measure { fd = FrechetDistance.between(sa, sb) }
        print("FrechetDistance 128-D: \(fd) in \(elapsed)")
        #expect(fd > 0)
    }
}

/// FD of two 200 × 128 feature sets against the reference (numpy `eigh`, and `scipy.linalg.sqrtm`
/// as FID implementations compute it), from `tools/neural/train_classifier.py`.
@Suite("Fréchet distance parity")
struct FrechetDistanceParityTests {
    @Test("FD of classifier features matches scipy to 1e-6 relative")
    func matchesReference() throws {
        let file = try SafetensorsFile(contentsOf: Fixtures.url("neural/frechet-distance.safetensors"))
        let (aShape, a) = try file.float64Tensor("a")
        let (bShape, b) = try file.float64Tensor("b")
        #expect(aShape == [200, 128] && bShape == [200, 128])
        let expected = try file.float64Tensor("fd").values[0]
        let scipy = try #require(file.metadata["fd_scipy_sqrtm"].flatMap(Double.init))
        let ab = FrechetDistance.between(a, b, dimension: 128), ba = FrechetDistance.between(b, a, dimension: 128)
        print("FD(a, b) = \(ab), FD(b, a) = \(ba); reference \(expected), scipy sqrtm \(scipy)")
        #expect(abs(ab - expected) < 1e-6 * expected && abs(ab - scipy) < 1e-6 * scipy)
        #expect(abs(ba - scipy) < 1e-6 * scipy)

        // Against the data statistics stored with the classifier.
        let root = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let classifier = try FeatureClassifier(contentsOf: root.appendingPathComponent("Sources/DiffusionNeural/Resources/Models/digits-classifier.safetensors"))
        let data = try #require(classifier.dataStatistics)
        let expectedData = try file.float64Tensor("fd_a_data").values[0]
        let toData = FrechetDistance.between(GaussianStatistics(samples: a, dimension: 128), data)
        print("FD(a, data) = \(toData); reference \(expectedData)")
        #expect(abs(toData - expectedData) < 1e-6 * expectedData)
    }
}
