import RealModule

/// Cascade polynomial regression (CPR) of DC-Solver (Zhao et al. 2024, ECCV, arXiv:2409.03755,
/// Sec. 3.4): compensation ratios for a step count and guidance scale that were never searched,
/// from a polynomial fitted to ratios searched at a few.
///
/// Step `i` (1-based) of `N`, guidance scale `g`, with `x = i/N`, `w = g/g₀`, `n = N/N₀`
/// (`g₀ = 12`, `N₀ = 50` in the reference):
/// ```
/// a_kr = Σ_q c[k][r][q] · n^(D_N − q)           (q = 0 … D_N)
/// p_k  = Σ_r a_kr · w^(D_g − r)                 (r = 0 … D_g)
/// ρ_i  = Σ_k p_k · x^k                          (k = 0 … D_x)
/// ```
/// and `ρ_i = 1` for `i` below ``firstCompensatedStep`` (3: ``DCSolver`` cannot compensate the
/// first two steps). The coefficient layout is the reference's (`cpr_coeffs_path/*.npy`, reshaped
/// row-major to `(D_x+1, D_g+1, D_N+1)`, highest power of `w` and `n` first), so its published
/// SD-2.1 table (``stableDiffusion21``, `D_x = 3`, `D_g = D_N = 2`) loads as is. The terms cancel
/// heavily (coefficients up to 1.3·10⁴ give ratios near 1), so everything is in `Double`.
///
/// The value is `Codable` for storage in JSON.
public struct CascadePolynomialRegression: Sendable, Codable, Equatable {
    /// `D_x`: the degree in the relative step position `x = i/N`.
    public var positionDegree: Int
    /// `D_g`: the degree in the guidance scale (0 when fitted at one scale).
    public var guidanceDegree: Int
    /// `D_N`: the degree in the step count.
    public var stepsDegree: Int
    /// `g₀` in `w = g/g₀`.
    public var guidanceNormalizer: Double
    /// `N₀` in `n = N/N₀`.
    public var stepsNormalizer: Double
    /// The first step (1-based) whose ratio the polynomial gives; earlier steps use 1.
    public var firstCompensatedStep: Int
    /// `c[k][r][q]`, row-major, `(D_x+1)(D_g+1)(D_N+1)` values.
    public var coefficients: [Double]

    /// - Throws: ``SamplingError/invalidConfiguration(_:)`` when a degree is negative, a normalizer
    ///   is not positive, or `coefficients` does not have `(D_x+1)(D_g+1)(D_N+1)` finite values.
    public init(coefficients: [Double], positionDegree: Int = 3, guidanceDegree: Int = 2, stepsDegree: Int = 2,
                guidanceNormalizer: Double = 12, stepsNormalizer: Double = 50, firstCompensatedStep: Int = 3) throws {
        self.coefficients = coefficients
        self.positionDegree = positionDegree
        self.guidanceDegree = guidanceDegree
        self.stepsDegree = stepsDegree
        self.guidanceNormalizer = guidanceNormalizer
        self.stepsNormalizer = stepsNormalizer
        self.firstCompensatedStep = firstCompensatedStep
        try validate()
    }

    /// Checks the degrees, normalizers and coefficient count (also after decoding).
    public func validate() throws {
        guard positionDegree >= 0, guidanceDegree >= 0, stepsDegree >= 0, positionDegree <= 12, guidanceDegree <= 12, stepsDegree <= 12 else {
            throw SamplingError.invalidConfiguration("cpr: degrees must be 0 to 12, got \(positionDegree), \(guidanceDegree), \(stepsDegree)")
        }
        guard guidanceNormalizer.isFinite, guidanceNormalizer > 0, stepsNormalizer.isFinite, stepsNormalizer > 0 else {
            throw SamplingError.invalidConfiguration("cpr: the guidance and step normalizers must be positive")
        }
        guard coefficients.count == termCount, coefficients.allSatisfy({ $0.isFinite }) else {
            throw SamplingError.invalidConfiguration("cpr: expected \(termCount) finite coefficients, got \(coefficients.count)")
        }
        guard firstCompensatedStep >= 1 else {
            throw SamplingError.invalidConfiguration("cpr: the first compensated step must be at least 1")
        }
    }

    var termCount: Int { (positionDegree + 1) * (guidanceDegree + 1) * (stepsDegree + 1) }

    /// The published SD-2.1 coefficients (wl-zhao/DC-Solver, `diffusers/dc_solver/cpr_coeffs_path/sd2.1.npy`),
    /// for UniPC bh2 order 2 with `disable_corrector = [0]`; a test checks them with ``validate()``.
    public static let stableDiffusion21 = CascadePolynomialRegression(literal: [
        1523.676619658719, -1111.4746450817747, 198.38349617752823, -1346.0890022783242, 1007.1949412581944, -186.2547577408646,
        168.39730243270586, -128.0389489406508, 24.884789751788965, -8140.644018577604, 5906.748279115223, -1035.9941123139745,
        6941.413899402556, -5193.980659818976, 950.3205652979913, -848.2104675050633, 650.6903333310611, -121.28674276636774,
        13309.270384617059, -9616.6703205253, 1668.7685962068279, -11037.107794392457, 8256.66668566493, -1503.7992035851387,
        1293.9740435093065, -999.5629328211232, 188.2217041354989, -6747.4218216104955, 4853.153053347587, -835.5116792834909,
        5489.115183777738, -4096.897218212316, 743.0953413127122, -619.5612763258621, 480.1497146559675, -90.89633128561563,
    ])

    /// Coefficients with the default degrees and normalizers, unchecked (for published literals).
    init(literal coefficients: [Double]) {
        self.coefficients = coefficients
        (positionDegree, guidanceDegree, stepsDegree) = (3, 2, 2)
        (guidanceNormalizer, stepsNormalizer, firstCompensatedStep) = (12, 50, 3)
    }

    /// The basis value of coefficient `c[k][r][q]` at step `i` of `steps` and guidance `g`.
    private func basis(step i: Int, steps: Int, guidance g: Double) -> [Double] {
        let x = Double(i) / Double(steps), w = g / guidanceNormalizer, n = Double(steps) / stepsNormalizer
        var values: [Double] = []
        values.reserveCapacity(termCount)
        for k in 0...positionDegree {
            for r in 0...guidanceDegree {
                for q in 0...stepsDegree {
                    values.append(Double.pow(x, k) * Double.pow(w, guidanceDegree - r) * Double.pow(n, stepsDegree - q))
                }
            }
        }
        return values
    }

    /// The ratio of step `i` (1-based) of `steps` at guidance scale `guidance` (the cascade of the
    /// type's formula, evaluated by Horner's rule at each level).
    public func ratio(step i: Int, of steps: Int, guidance: Double) -> Double {
        if i < firstCompensatedStep { return 1 }
        let x = Double(i) / Double(steps), w = guidance / guidanceNormalizer, n = Double(steps) / stepsNormalizer
        let dr = guidanceDegree + 1, dq = stepsDegree + 1
        var rho = 0.0
        for k in stride(from: positionDegree, through: 0, by: -1) {
            var p = 0.0
            for r in 0..<dr {
                var a = 0.0
                for q in 0..<dq { a = a * n + coefficients[(k * dr + r) * dq + q] }
                p = p * w + a
            }
            rho = rho * x + p
        }
        return rho
    }

    /// The ratios of a ``DCSolver`` run of `steps` steps (index `j` is step `j + 1`).
    /// - Throws: when `steps < 1` or `guidance` is not finite.
    public func ratios(steps: Int, guidance: Double) throws -> [Double] {
        guard steps >= 1, guidance.isFinite else {
            throw SamplingError.invalidConfiguration("cpr: needs at least one step and a finite guidance scale")
        }
        return (1...steps).map { ratio(step: $0, of: steps, guidance: guidance) }
    }

    /// Ratios searched at one step count and guidance scale, as training data for ``fit(_:positionDegree:guidanceDegree:stepsDegree:guidanceNormalizer:stepsNormalizer:firstCompensatedStep:)``.
    public struct Sample: Sendable, Codable, Equatable {
        public var steps: Int
        public var guidance: Double
        /// One ratio per step (index `j` is step `j + 1`), as `DynamicCompensationFit` returns them.
        public var ratios: [Double]
        public init(steps: Int, guidance: Double, ratios: [Double]) {
            self.steps = steps; self.guidance = guidance; self.ratios = ratios
        }
    }

    /// The least-squares coefficients for `samples`: every ratio from ``firstCompensatedStep`` on is
    /// one equation `Σ c[k][r][q]·x^k·w^(D_g−r)·n^(D_N−q) = ρᵢ`, solved by Householder QR with
    /// columns scaled to unit norm, in `Double`.
    ///
    /// Choose degrees the data can determine: `D_N + 1` distinct step counts at least, `D_g + 1`
    /// distinct guidance scales (`D_g = 0` when the ratios come from one scale, which makes the
    /// polynomial independent of guidance), and `D_x + 1` compensated steps per run. The reference
    /// uses `D_x = 3`, `D_g = D_N = 2`; with ratios from one guidance scale at a handful of step
    /// counts, `D_x = 3`, `D_g = 0`, `D_N = 1` or 2 is the analogue.
    /// - Throws: when there are fewer equations than coefficients or the equations do not determine
    ///   them (rank-deficient), naming the degrees.
    public static func fit(_ samples: [Sample], positionDegree: Int = 3, guidanceDegree: Int = 2, stepsDegree: Int = 2,
                           guidanceNormalizer: Double = 12, stepsNormalizer: Double = 50,
                           firstCompensatedStep: Int = 3) throws -> CascadePolynomialRegression {
        var model = try CascadePolynomialRegression(
            coefficients: [Double](repeating: 0, count: (positionDegree + 1) * (guidanceDegree + 1) * (stepsDegree + 1)),
            positionDegree: positionDegree, guidanceDegree: guidanceDegree, stepsDegree: stepsDegree,
            guidanceNormalizer: guidanceNormalizer, stepsNormalizer: stepsNormalizer, firstCompensatedStep: firstCompensatedStep)
        var rows: [[Double]] = [], rhs: [Double] = []
        for s in samples {
            guard s.steps >= 1, s.ratios.count == s.steps, s.guidance.isFinite, s.ratios.allSatisfy({ $0.isFinite }) else {
                throw SamplingError.invalidConfiguration("cpr fit: a sample needs one finite ratio per step (\(s.steps) steps, \(s.ratios.count) ratios)")
            }
            for i in stride(from: firstCompensatedStep, through: s.steps, by: 1) {
                rows.append(model.basis(step: i, steps: s.steps, guidance: s.guidance))
                rhs.append(s.ratios[i - 1])
            }
        }
        let n = model.termCount
        guard rows.count >= n else {
            throw SamplingError.invalidConfiguration(
                "cpr fit: \(rows.count) fitted ratios cannot determine \(n) coefficients (degrees \(positionDegree), \(guidanceDegree), \(stepsDegree))")
        }
        guard let solution = leastSquares(rows: rows, rhs: rhs) else {
            throw SamplingError.invalidConfiguration(
                "cpr fit: the samples do not determine the coefficients of degrees \(positionDegree), \(guidanceDegree), \(stepsDegree) (too few distinct step counts or guidance scales)")
        }
        model.coefficients = solution
        return model
    }

    /// `argmin ‖A c − b‖` by Householder QR of the column-equilibrated `A`; `nil` when `A` is
    /// numerically rank-deficient.
    static func leastSquares(rows: [[Double]], rhs: [Double]) -> [Double]? {
        let m = rows.count, n = rows[0].count
        var a = [Double](repeating: 0, count: m * n)  // column-major
        var scale = [Double](repeating: 1, count: n)
        for j in 0..<n {
            var norm = 0.0
            for i in 0..<m { norm += rows[i][j] * rows[i][j] }
            norm = norm.squareRoot()
            guard norm > 0 else { return nil }
            scale[j] = norm
            for i in 0..<m { a[j * m + i] = rows[i][j] / norm }
        }
        var b = rhs
        var diagonal = [Double](repeating: 0, count: n)
        for j in 0..<n {
            var norm = 0.0
            for i in j..<m { norm += a[j * m + i] * a[j * m + i] }
            norm = norm.squareRoot()
            let alpha = a[j * m + j] > 0 ? -norm : norm
            diagonal[j] = alpha
            guard norm > 1e-12 else { return nil }
            // v = column − alpha·e_j, stored in place; H = I − 2vvᵀ/(vᵀv).
            a[j * m + j] -= alpha
            var vv = 0.0
            for i in j..<m { vv += a[j * m + i] * a[j * m + i] }
            for c in (j + 1)..<Swift.max(n, j + 1) {
                var dot = 0.0
                for i in j..<m { dot += a[j * m + i] * a[c * m + i] }
                let f = 2 * dot / vv
                for i in j..<m { a[c * m + i] -= f * a[j * m + i] }
            }
            var dot = 0.0
            for i in j..<m { dot += a[j * m + i] * b[i] }
            let f = 2 * dot / vv
            for i in j..<m { b[i] -= f * a[j * m + i] }
        }
        // Columns have unit norm, so |R_jj| measures how independent column j is of the earlier ones.
        guard diagonal.allSatisfy({ abs($0) > 1e-10 }) else { return nil }
        var c = [Double](repeating: 0, count: n)
        for j in stride(from: n - 1, through: 0, by: -1) {
            var s = b[j]
            for k in (j + 1)..<Swift.max(n, j + 1) { s -= a[k * m + j] * c[k] }
            c[j] = s / diagonal[j]
        }
        return zip(c, scale).map { $0 / $1 }
    }
}
