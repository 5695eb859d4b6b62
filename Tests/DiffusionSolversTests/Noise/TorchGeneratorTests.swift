import Testing
import Foundation
import DiffusionSolvers
import DiffusionTestSupport

/// `torch_randn.json` (tools/fixtures_torch_randn.py): torch 2.15.0's CPU `manual_seed(s); randn(n)`.
///
/// Read with `JSONDecoder`, which parses every decimal to the nearest Double (JSONSerialization on
/// Linux goes through `Decimal` for long numbers and can be an ulp off). The values are float32
/// numbers written as exact float64 decimals, so `Float(value)` is exact; `load()` checks that.
private struct TorchRandnFixture: Decodable {
    struct Case: Decodable {
        let seed: String
        let count: Int
        let shape: [Int]?
        let values: [Double]?           // all values (count <= 1000)
        let first: [Double]?            // else the first and last 64 values and the float64 sum
        let last: [Double]?
        let sum: Double?
    }
    struct Sequence: Decodable {
        let seed: String
        let counts: [Int]
        let values: [[Double]]
    }
    struct ScalarKernel: Decodable {
        let cases: [Case]
        let sequence: Sequence
    }
    let cases: [Case]
    let sequence: Sequence
    let scalar_kernel: ScalarKernel

    struct Malformed: Error { let what: String }

    static func load() throws -> TorchRandnFixture {
        let fixture = try JSONDecoder().decode(TorchRandnFixture.self, from: Data(contentsOf: Fixtures.url("torch_randn.json")))
        let all = fixture.cases + fixture.scalar_kernel.cases
        for list in all.flatMap({ [$0.values, $0.first, $0.last].compactMap { $0 } })
            + fixture.sequence.values + fixture.scalar_kernel.sequence.values {
            for v in list where Double(Float(v)) != v { throw Malformed(what: "\(v) is not a float32") }
        }
        for seed in all.map(\.seed) + [fixture.sequence.seed, fixture.scalar_kernel.sequence.seed] where UInt64(seed) == nil {
            throw Malformed(what: "seed \(seed)")
        }
        return fixture
    }
}

private func seed(_ text: String) -> UInt64 { UInt64(text) ?? 0 }
private func floats(_ values: [Double]) -> [Float] { values.map(Float.init) }

/// Indices where `a` and `b` differ as bit patterns (or the length, if they differ in length).
private func bitMismatches(_ a: [Float], _ b: [Float]) -> [Int] {
    guard a.count == b.count else { return [-1] }
    return a.indices.filter { a[$0].bitPattern != b[$0].bitPattern }
}

@Suite("TorchGenerator reproduces torch.randn (CPU, float32) bit for bit")
struct TorchGeneratorTests {
    private func check(_ cases: [TorchRandnFixture.Case], kernel: TorchGenerator.Kernel) {
        for c in cases {
            let generator = TorchGenerator(seed: seed(c.seed), kernel: kernel)
            let label = "seed \(c.seed), count \(c.count), \(kernel)"
            let drawn: [Float]
            if let shape = c.shape {
                let tensor = generator.randn(shape: shape)
                #expect(tensor.shape == shape, "\(label)")
                drawn = tensor.scalars
            } else {
                drawn = generator.randn(count: c.count)
            }
            #expect(drawn.count == c.count, "\(label)")
            if let values = c.values {
                let bad = bitMismatches(drawn, floats(values))
                #expect(bad.isEmpty, "\(label): \(bad.count) values differ, first at \(bad.first ?? 0)")
            }
            if let first = c.first, let last = c.last, let sum = c.sum {
                #expect(bitMismatches(Array(drawn.prefix(first.count)), floats(first)).isEmpty, "\(label): first values")
                #expect(bitMismatches(Array(drawn.suffix(last.count)), floats(last)).isEmpty, "\(label): last values")
                // Compensated sum; a one-ulp change of any value (≥ 6e-8 here) moves the sum by far more than 1e-9.
                var total = 0.0, compensation = 0.0
                for v in drawn {
                    let x = Double(v), t = total + x
                    compensation += abs(total) >= abs(x) ? (total - t) + x : (x - t) + total
                    total = t
                }
                #expect(abs(total + compensation - sum) < 1e-9, "\(label): sum \(total + compensation) vs \(sum)")
            }
        }
    }

    @Test("every fixture value: seeds 0, 1, 42, 2³²−1, 2⁶³+5; counts 1 … 4·64·64 (AVX2 kernel)")
    func fixtureCases() throws {
        let fixture = try TorchRandnFixture.load()
        #expect(fixture.cases.count == 45)
        check(fixture.cases, kernel: .avx2)
    }

    @Test("consecutive randn(3), randn(20), randn(5), randn(16) after one manual_seed")
    func consecutiveCalls() throws {
        let sequence = try TorchRandnFixture.load().sequence
        #expect(sequence.counts == [3, 20, 5, 16])
        let generator = TorchGenerator(seed: seed(sequence.seed))
        for (count, expected) in zip(sequence.counts, sequence.values) {
            let bad = bitMismatches(generator.randn(count: count), floats(expected))
            #expect(bad.isEmpty, "randn(\(count)): \(bad.count) values differ")
        }
    }

    @Test("the DEFAULT-capability kernel (ATEN_CPU_CAPABILITY=default, C library log/cos/sin)")
    func scalarKernel() throws {
        let fixture = try TorchRandnFixture.load()
        check(fixture.scalar_kernel.cases, kernel: .scalar)
        let sequence = fixture.scalar_kernel.sequence
        let generator = TorchGenerator(seed: seed(sequence.seed), kernel: .scalar)
        for (count, expected) in zip(sequence.counts, sequence.values) {
            #expect(bitMismatches(generator.randn(count: count), floats(expected)).isEmpty, "randn(\(count))")
        }
    }

    @Test("as a NoiseSource, fill draws one randn of the tensor's full shape per step")
    func noiseSource() throws {
        let sequence = try TorchRandnFixture.load().sequence
        let source: any NoiseSource = TorchGenerator(seed: seed(sequence.seed))
        let shapes = [[3, 1], [4, 5], [1, 5], [2, 2, 4]]      // 3, 20, 5, 16 elements
        for (step, shape) in shapes.enumerated() {
            var noise = SampleTensor(zeros: shape)
            try source.fill(&noise, step: step)
            #expect(bitMismatches(noise.scalars, floats(sequence.values[step])).isEmpty, "step \(step)")
        }
        // A longer run of mixed sizes (both paths, the cached normal across them) against randn calls.
        let sampler = TorchGenerator(seed: 7), reference = TorchGenerator(seed: 7)
        var x = sampler.randn(shape: [2, 1, 8, 8])
        #expect(x.scalars == reference.randn(count: 128))
        for (step, shape) in [[2, 1, 8, 8], [1, 3], [3, 7], [1, 1], [2, 9], [2, 1, 8, 8]].enumerated() {
            x = SampleTensor(zeros: shape)
            try sampler.fill(&x, step: step)
            #expect(bitMismatches(x.scalars, reference.randn(count: x.count)).isEmpty, "step \(step) \(shape)")
        }
    }

    @Test("seeding: low 32 bits only, reseeding clears the cached normal, empty draws consume nothing")
    func seeding() {
        #expect(TorchGenerator(seed: (1 << 63) + 5).randn(count: 40) == TorchGenerator(seed: 5).randn(count: 40))
        #expect(TorchGenerator(seed: .max).randn(count: 3) == TorchGenerator(seed: 0xFFFF_FFFF).randn(count: 3))
        let g = TorchGenerator(seed: 1)
        let first = g.randn(count: 1)
        _ = g.randn(count: 2)                   // leaves a cached value behind
        g.manualSeed(1)
        #expect(g.randn(count: 1) == first)
        #expect(g.seed == 1)

        let a = TorchGenerator(seed: 3), b = TorchGenerator(seed: 3)
        #expect(a.randn(count: 0).isEmpty)
        #expect(a.randn(count: -4).isEmpty)
        #expect(a.randn(shape: [2, 0, 3]).count == 0)
        #expect(a.randn(shape: [2, -1]).shape == [0])
        #expect(a.randn(shape: [Int.max, 2]).shape == [0])
        #expect(a.randn(shape: []).scalars == b.randn(count: 1))
        #expect(a.randn(shape: [3, 5]).scalars == b.randn(count: 15))
        #expect(a.randn(shape: [2, 3, 5]).scalars == b.randn(count: 30))
    }

    @Test("MersenneTwister19937 is the standard MT19937 (10000th output of seed 5489)")
    func mersenneTwister() {
        var engine = MersenneTwister19937(seed: 5489)
        var value: UInt32 = 0
        for _ in 0..<10_000 { value = engine.next() }
        #expect(value == 4_123_659_995)             // the value the C++ standard requires of std::mt19937
        var a = MersenneTwister19937(seed: 42), b = a
        #expect(a.next64() == UInt64(b.next()) << 32 | UInt64(b.next()))
        #expect(a == b)
    }
}
