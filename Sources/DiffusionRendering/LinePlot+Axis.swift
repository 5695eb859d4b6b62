import Foundation
import DiffusionFormats

extension LinePlot {
    /// One axis: its range and ticks, in axis coordinates (log10 of the value on a log axis).
    package struct Axis: Equatable {
        package struct Tick: Equatable {
            var position: Double
            package var label: String
        }

        var isLog: Bool
        package var low: Double
        package var high: Double
        /// Labelled ticks with gridlines, in increasing order.
        package var ticks: [Tick]
        /// Positions of unlabelled, lighter gridlines.
        var minorTicks: [Double]

        /// The axis coordinate of `value`, or `nil` if the axis cannot show it.
        static func coordinate(_ value: Double, isLog: Bool) -> Double? {
            guard value.isFinite else { return nil }
            if isLog { return value > 0 ? log10(value) : nil }
            return value
        }

        /// Where `coordinate` lies between `low` (0) and `high` (1), kept within -1...2.
        /// Halving first keeps the difference finite for ranges as wide as the doubles.
        func fraction(_ coordinate: Double) -> Double {
            let f = (coordinate * 0.5 - low * 0.5) / (high * 0.5 - low * 0.5)
            return f.isFinite ? min(max(f, -1), 2) : 0
        }

        /// Fits an axis to `values` (those the axis cannot show are ignored).
        /// - Parameter labelDataValues: Whether a few distinct values within two decades on a log
        ///   axis become the ticks themselves.
        package static func fitted(to values: [Double], isLog: Bool, labelDataValues: Bool) -> Axis {
            let shown = values.filter { coordinate($0, isLog: isLog) != nil }
            let coordinates = shown.map { coordinate($0, isLog: isLog)! }
            var low = 0.0, high = 1.0
            if let lo = coordinates.min(), let hi = coordinates.max() {
                if hi > lo {
                    let pad = 0.1 * (hi * 0.5 - lo * 0.5)  // 5% of the span
                    low = lo - pad
                    high = hi + pad
                } else if isLog {
                    low = lo - 0.5
                    high = hi + 0.5
                } else {
                    let half = lo == 0 ? 1 : abs(lo) * 0.5
                    low = lo - half
                    high = hi + half
                }
                low = max(low, -Double.greatestFiniteMagnitude)
                high = min(high, Double.greatestFiniteMagnitude)
                if !(high > low) {  // half of a subnormal rounds to zero
                    low = lo - 1
                    high = lo + 1
                }
            }
            var axis = Axis(isLog: isLog, low: low, high: high, ticks: [], minorTicks: [])
            if isLog {
                let distinct = Array(Set(shown)).sorted()
                if labelDataValues, let first = distinct.first, let last = distinct.last,
                   distinct.count <= 12, log10(last) - log10(first) <= 2 {
                    axis.ticks = distinct.map { Tick(position: log10($0), label: formatNumber($0)) }
                } else {
                    axis.setLogTicks()
                }
            } else {
                axis.ticks = linearTicks(low: low, high: high).map { Tick(position: $0.value, label: $0.label) }
            }
            return axis
        }

        /// Powers of ten in the range, or 1-2-5 or 1...9 multiples when fewer than two powers fit,
        /// or linear ticks for a range narrower than that.
        private mutating func setLogTicks() {
            // The range lies within about -330...330 (log10 of positive finite doubles).
            let lowPower = Int(low.rounded(.up)), highPower = Int(high.rounded(.down))
            if highPower - lowPower >= 1 {
                let count = highPower - lowPower + 1
                let step = max(1, (count + 7) / 8)
                for k in lowPower...highPower {
                    if k.isMultiple(of: step) {
                        ticks.append(Tick(position: Double(k), label: Self.powerLabel(k)))
                    } else {
                        minorTicks.append(Double(k))
                    }
                }
                if step == 1 && high - low <= 12 {
                    for k in (lowPower - 1)...highPower {
                        for m in 2...9 {
                            let p = Double(k) + log10(Double(m))
                            if p >= low && p <= high { minorTicks.append(p) }
                        }
                    }
                }
                return
            }
            for multiples in [[1, 2, 5], Array(1...9)] {
                var candidates: [Tick] = []
                for k in Int(low.rounded(.down))...Int(high.rounded(.up)) {
                    for m in multiples {
                        let p = Double(k) + log10(Double(m))
                        if p >= low && p <= high {
                            candidates.append(Tick(position: p, label: formatNumber(Double(m) * pow(10, Double(k)))))
                        }
                    }
                }
                if candidates.count >= 2 {
                    ticks = candidates
                    return
                }
            }
            ticks = Self.linearTicks(low: pow(10, low), high: pow(10, high))
                .filter { $0.value > 0 }
                .map { Tick(position: log10($0.value), label: $0.label) }
        }

        /// `1`, `10`, `100`, `1000` for 10^0...10^3 and `1e<k>` otherwise.
        package static func powerLabel(_ k: Int) -> String {
            (0...3).contains(k) ? "1" + String(repeating: "0", count: k) : "1e\(k)"
        }

        /// Multiples of a step of 1, 2 or 5 times a power of ten, about five to ten of them,
        /// labelled with as many decimals as the step needs. Consecutive equal labels are merged.
        static func linearTicks(low: Double, high: Double) -> [(value: Double, label: String)] {
            let half = high * 0.5 - low * 0.5
            guard half > 0, half.isFinite else { return [] }
            let raw = half * 0.4  // a fifth of the span
            let exponent = log10(raw).rounded(.down)
            let base = pow(10, exponent)
            guard base > 0, base.isFinite else { return [] }
            let f = raw / base
            let step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * base
            let first = (low / step).rounded(.up), last = (high / step).rounded(.down)
            guard step > 0, step.isFinite, first.isFinite, last.isFinite, last >= first, last - first <= 50 else { return [] }
            let decimals = max(0, -Int((log10(step) + 1e-9).rounded(.down)))
            let plain = max(abs(low), abs(high)) < 1e7 && decimals <= 6
            var result: [(value: Double, label: String)] = []
            var i = first
            while i <= last {
                let value = i * step
                let label = plain ? decimalString(value, decimals: decimals) : formatNumber(value)
                if result.last?.label != label { result.append((value, label)) }
                i += 1
            }
            return result
        }
    }

    /// A short label for `value`: integers below 10^4 as they are, otherwise three significant
    /// digits, in plain decimals for 0.1 <= |value| < 10^4 and as `2.5e-7` beyond.
    package static func formatNumber(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if value == 0 { return "0" }
        if value == value.rounded(), abs(value) < 1e4 { return String(Int(value)) }
        var exponent = Int(log10(abs(value)).rounded(.down))
        // Two factors keep 10^-exponent finite for subnormal values.
        var mantissa = value / pow(10, Double(exponent / 2)) / pow(10, Double(exponent - exponent / 2))
        mantissa = (mantissa * 100).rounded() / 100
        if abs(mantissa) >= 10 {
            mantissa /= 10
            exponent += 1
        }
        if (-1...3).contains(exponent) { return decimalString(value, decimals: 2 - exponent) }
        return decimalString(mantissa, decimals: 2) + "e\(exponent)"
    }

    /// `value` rounded to `decimals` places with trailing zeros dropped, without locale or
    /// exponent notation; for |value| * 10^decimals >= 9e15 it falls back to Swift's description.
    static func decimalString(_ value: Double, decimals: Int) -> String {
        let decimals = min(max(decimals, 0), 15)
        var power = 1
        for _ in 0..<decimals { power *= 10 }
        let scaled = (abs(value) * Double(power)).rounded()
        guard scaled.isFinite, scaled < 9e15 else { return "\(value)" }
        let n = Int(scaled)
        var text = String(n / power)
        if decimals > 0 {
            var fraction = String(n % power)
            fraction = String(repeating: "0", count: decimals - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            if !fraction.isEmpty { text += "." + fraction }
        }
        return value < 0 && n != 0 ? "-" + text : text
    }
}

// MARK: - Layout
