import RealModule
import DiffusionCore

/// The adaptive Dormand–Prince 5(4) pair (Dormand & Prince 1980, "A family of embedded Runge–Kutta
/// formulae") in `Double`, shared by ``ReferenceSolver`` and ``LikelihoodEstimator``.
///
/// Steps with the fifth-order solution (FSAL), controls the step with the embedded fourth-order
/// error in the RMS norm scaled by `atol + rtol·max(|yₙ|, |yₙ₊₁|)`, and grows or shrinks the step
/// by `0.9·err^(−1/5)` clamped to `[0.2, 5]`. Integrates in either direction.
struct DormandPrince45 {
    var relativeTolerance: Double
    var absoluteTolerance: Double
    var maximumSteps: Int
    /// Prefix of error messages, such as `reference solution`.
    var label: String

    struct Result {
        var state: [Double]
        var acceptedSteps: Int
        var rejectedSteps: Int
        /// The sum over accepted steps of the embedded error estimate's RMS norm.
        var errorSum: Double
    }

    /// Integrates `dy/du = f(y, u)` from `u0` to `uEnd`, starting with step `initialStep`
    /// (whose sign must point from `u0` to `uEnd`).
    func integrate(_ start: [Double], from u0: Double, to uEnd: Double, initialStep: Double,
                   _ f: ([Double], Double) throws -> [Double]) throws -> Result {
        let direction: Double = uEnd >= u0 ? 1 : -1
        var y = start
        var u = u0
        var h = initialStep
        var accepted = 0, rejected = 0
        var errorSum = 0.0
        var k1 = try f(y, u)
        let n = y.count
        let c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9
        let a21 = 1.0 / 5
        let a31 = 3.0 / 40, a32 = 9.0 / 40
        let a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9
        let a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729
        let a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176, a65 = -5103.0 / 18656
        let b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84
        let e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920, e5 = -17253.0 / 339200, e6 = 22.0 / 525, e7 = -1.0 / 40

        func combo(_ terms: [(Double, [Double])]) -> [Double] {
            var out = y
            for (c, k) in terms where c != 0 { for i in 0..<n { out[i] += h * c * k[i] } }
            return out
        }
        while (uEnd - u) * direction > 0 {
            guard accepted + rejected < maximumSteps else {
                throw SamplingError.invalidConfiguration("\(label): no convergence within \(maximumSteps) steps")
            }
            if (u + h - uEnd) * direction > 0 { h = uEnd - u }
            let k2 = try f(combo([(a21, k1)]), u + c2 * h)
            let k3 = try f(combo([(a31, k1), (a32, k2)]), u + c3 * h)
            let k4 = try f(combo([(a41, k1), (a42, k2), (a43, k3)]), u + c4 * h)
            let k5 = try f(combo([(a51, k1), (a52, k2), (a53, k3), (a54, k4)]), u + c5 * h)
            let k6 = try f(combo([(a61, k1), (a62, k2), (a63, k3), (a64, k4), (a65, k5)]), u + h)
            let yNew = combo([(b1, k1), (b3, k3), (b4, k4), (b5, k5), (b6, k6)])
            let k7 = try f(yNew, u + h)
            var errSquares = 0.0, absSquares = 0.0
            for i in 0..<n {
                let e = h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i])
                let scale = absoluteTolerance + relativeTolerance * Swift.max(abs(y[i]), abs(yNew[i]))
                errSquares += (e / scale) * (e / scale)
                absSquares += e * e
            }
            let err = (errSquares / Double(n)).squareRoot()
            guard err.isFinite else {
                throw SamplingError.invalidConfiguration("\(label): the model produced NaN or Inf")
            }
            if err <= 1 {
                u += h
                y = yNew
                k1 = k7
                accepted += 1
                errorSum += (absSquares / Double(n)).squareRoot()
            } else {
                rejected += 1
            }
            let factor = err == 0 ? 5 : Swift.min(5, Swift.max(0.2, 0.9 * Double.pow(err, -0.2)))
            h *= factor
        }
        return Result(state: y, acceptedSteps: accepted, rejectedSteps: rejected, errorSum: errorSum)
    }
}
