import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

@Suite("Categorical mixture (masked diffusion's exact model)")
struct CategoricalMixtureTests {
    /// The predictive of every masked position against brute-force enumeration of all V^L sequences.
    @Test func predictiveMatchesEnumeration() throws {
        let model = try DiscreteFixtures.mixture()
        let (l, v, weights, probs) = (6, 4, DiscreteFixtures.weights, DiscreteFixtures.probs())
        // p(x) for every x, computed directly from the definition.
        let all = (0..<Int(pow(4.0, 6.0))).map { code in (0..<l).map { (code >> (2 * $0)) & 3 } }
        let joint = all.map { x in (0..<3).reduce(0.0) { sum, k in sum + weights[k] * (0..<l).reduce(1.0) { $0 * probs[(k * l + $1) * v + x[$1]] } } }
        #expect(abs(joint.reduce(0, +) - 1) < 1e-12)
        for i in [0, 17, 1234, 4095] {
            #expect(abs(model.logLikelihood(ArraySlice(all[i].map(Int32.init))) - log(joint[i])) < 1e-12)
        }
        let states: [[Int32]] = [[4, 4, 4, 4, 4, 4], [0, 4, 2, 4, 4, 1], [3, 3, 4, 0, 1, 4], [4, 2, 2, 2, 2, 2]]
        for state in states {
            var predictive = [Double](repeating: -1, count: l * v)
            try model.predict(TokenSequence(tokens: state, vocabularySize: v), time: 0.5, into: &predictive)
            let consistent = all.indices.filter { i in (0..<l).allSatisfy { state[$0] == 4 || Int(state[$0]) == all[i][$0] } }
            let evidence = consistent.reduce(0.0) { $0 + joint[$1] }
            for position in 0..<l where state[position] == 4 {
                for token in 0..<v {
                    let exact = consistent.filter { all[$0][position] == token }.reduce(0.0) { $0 + joint[$1] } / evidence
                    #expect(abs(predictive[position * v + token] - exact) < 1e-12, "state \(state) position \(position) token \(token)")
                }
            }
        }
    }

    @Test func invalidTokensAreRefused() throws {
        let model = try DiscreteFixtures.mixture()
        var p = [Double](repeating: 0, count: 24)
        #expect(throws: DiscreteError.self) { try model.predict(TokenSequence(tokens: [4, 5, 4, 4, 4, 4], vocabularySize: 4), time: 1, into: &p) }
        #expect(throws: DiscreteError.self) { try model.predict(TokenSequence(tokens: [4, -1, 4, 4, 4, 4], vocabularySize: 4), time: 1, into: &p) }
        #expect(throws: DiscreteError.self) { try model.predict(TokenSequence(masked: 5, vocabularySize: 4), time: 1, into: &p) }
    }

    @Test func exactMarginalsAndPairsSumToOne() throws {
        let model = try DiscreteFixtures.mixture()
        #expect(abs(model.marginal(2).reduce(0, +) - 1) < 1e-12)
        let pair = model.pair(1, 4)
        #expect(abs(pair.reduce(0, +) - 1) < 1e-12)
        // The pair's row sums are position 1's marginal.
        for a in 0..<4 { #expect(abs(pair[(a * 4)..<(a * 4 + 4)].reduce(0, +) - model.marginal(1)[a]) < 1e-12) }
    }

    @Test func fileRoundTrip() throws {
        let model = try DiscreteFixtures.mixture()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cat-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.safetensors().write(to: url)
        #expect(CategoricalMixture.isCategoricalMixture(url))
        let read = try CategoricalMixture(contentsOf: url)
        #expect(read.weights == model.weights && read.probs == model.probs && read.length == 6 && read.vocabularySize == 4)
    }

    /// Bad files are refused with one line naming the cause.
    @Test func badFiles() throws {
        let probs = DiscreteFixtures.probs()
        func write(_ tensors: [String: SafetensorsFile.Tensor], kind: String? = "categorical-mixture") throws -> URL {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).safetensors")
            try SafetensorsFile(metadata: kind.map { ["kind": $0] } ?? [:], tensors: tensors).write(to: url)
            return url
        }
        func expectRefused(_ url: URL, mentions words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try CategoricalMixture(contentsOf: url)
                Issue.record("accepted a bad file", sourceLocation: sourceLocation)
            } catch {
                let text = "\(error)"
                #expect(!text.contains("\n"), sourceLocation: sourceLocation)
                for word in words { #expect(text.contains(word), "'\(text)' should mention '\(word)'", sourceLocation: sourceLocation) }
            }
        }
        let w = SafetensorsFile.float64(DiscreteFixtures.weights, shape: [3])
        var unnormalized = probs
        unnormalized[5] += 0.01
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.float64(unnormalized, shape: [3, 6, 4])]), mentions: ["probs[0, 1, :]", "sums to"])
        var negative = probs
        (negative[0], negative[1]) = (negative[0] + 0.1 + negative[1], -0.1)
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.float64(negative, shape: [3, 6, 4])]), mentions: ["probs[0, 0, 1]", "not a probability"])
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.float64(probs, shape: [3, 4, 6])]), mentions: ["sums to"])
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.float64(probs, shape: [72])]), mentions: ["shape [72]", "[K, L, V]"])
        expectRefused(try write(["weights": SafetensorsFile.float64([0.5, 0.5], shape: [2]), "probs": SafetensorsFile.float64(probs, shape: [3, 6, 4])]), mentions: ["K = 2"])
        expectRefused(try write(["weights": SafetensorsFile.float64([0.5, 0.3, 0.3], shape: [3]), "probs": SafetensorsFile.float64(probs, shape: [3, 6, 4])]), mentions: ["weights sum to"])
        expectRefused(try write(["weights": w]), mentions: ["no 'probs' tensor"])
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.int32(Array(repeating: 0, count: 72), shape: [3, 6, 4])]), mentions: ["I32"])
        expectRefused(try write(["weights": w, "probs": SafetensorsFile.float64(probs, shape: [3, 6, 4])], kind: nil), mentions: ["kind", "missing"])
    }

    @Test func schedules() throws {
        let table = try MaskingSchedule.table(times: [0, 0.25, 1], alphas: [1, 0.5, 0])
        for schedule in [MaskingSchedule.linear, .cosine, table] {
            #expect(schedule.alpha(0) == 1 && abs(schedule.alpha(1)) < 1e-15)
            for t in stride(from: 0.05, to: 1, by: 0.1) {
                #expect(abs(schedule.time(alpha: schedule.alpha(t)) - t) < 1e-12, "\(schedule) at \(t)")
                #expect(schedule.alpha(t + 0.01) < schedule.alpha(t))
            }
        }
        #expect(abs(MaskingSchedule.cosine.alpha(0.5) - (1 - cos(Double.pi / 4))) < 1e-15)
        #expect(abs(table.alpha(0.625) - 0.25) < 1e-15)
        #expect(throws: DiscreteError.self) { try MaskingSchedule.table(times: [0, 0.5, 1], alphas: [1, 0.2, 0.4]) }
    }
}
