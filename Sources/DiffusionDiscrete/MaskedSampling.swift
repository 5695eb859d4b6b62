import Foundation

/// A sampler of a masked diffusion model: from all masks to a full sequence, drawing from `random`.
public protocol MaskedSampler: Sendable {
    var name: String { get }
    func sample(_ model: any MaskedDiffusionModel, schedule: MaskingSchedule, precision: CategoricalPrecision,
                random: inout DiscreteRandom) throws -> (sequence: TokenSequence, evaluations: Int)
}

/// A batch of samples, each from its own random stream (``DiscreteRandom`` of the seed and the
/// sample's index), spread over threads: the tokens are the same bits for any thread count.
public enum MaskedSampling {
    /// The sampled token ids and the model evaluations each sample used.
    public struct Result: Sendable, Equatable {
        /// `[count, L]` token ids, row-major.
        public var tokens: [Int32]
        /// The model evaluations of each sample.
        public var evaluations: [Int]
        public var meanEvaluations: Double { Double(evaluations.reduce(0, +)) / Double(max(evaluations.count, 1)) }
    }

    /// `count` samples from all masks; sample `b` draws from ``DiscreteRandom`` of `seed` and
    /// `firstSample + b`. `threads` is how many workers share the batch (1 keeps it on the calling
    /// thread); it never changes the tokens.
    public static func run(_ sampler: any MaskedSampler, model: any MaskedDiffusionModel, schedule: MaskingSchedule = .linear,
                           precision: CategoricalPrecision = .float64, count: Int, seed: UInt64, firstSample: Int = 0,
                           threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> Result {
        guard count >= 0 else { throw DiscreteError("a sample count must be non-negative, got \(count)") }
        let l = model.length
        let output = Output(count: count, length: l)
        let chunks = min(max(threads, 1) * 4, max(count, 1))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            for b in stride(from: chunk, to: count, by: chunks) {
                var random = DiscreteRandom(seed: seed, sample: firstSample + b)
                do {
                    let (x, evaluations) = try sampler.sample(model, schedule: schedule, precision: precision, random: &random)
                    output.store(b, x.tokens, evaluations)
                } catch { output.fail(error) }
            }
        }
        if let error = output.error { throw error }
        return Result(tokens: output.tokens, evaluations: output.evaluations)
    }

    /// Rows written by disjoint samples from several threads.
    private final class Output: @unchecked Sendable {
        var tokens: [Int32]
        var evaluations: [Int]
        var error: Error?
        let length: Int
        private let lock = NSLock()

        init(count: Int, length: Int) {
            tokens = Array(repeating: 0, count: count * length)
            evaluations = Array(repeating: 0, count: count)
            self.length = length
        }

        func store(_ b: Int, _ row: [Int32], _ nfe: Int) {
            lock.lock(); defer { lock.unlock() }
            tokens.replaceSubrange((b * length)..<((b + 1) * length), with: row)
            evaluations[b] = nfe
        }

        func fail(_ e: Error) {
            lock.lock(); defer { lock.unlock() }
            if error == nil { error = e }
        }
    }
}

/// A sampler's working state: the sequence being revealed, the model's last predictive, and the
/// evaluations so far.
struct RevealState {
    var sequence: TokenSequence
    private var predictive: [Double]
    private(set) var evaluations = 0
    private let model: any MaskedDiffusionModel

    /// All masks.
    init(_ model: any MaskedDiffusionModel) {
        self.model = model
        self.sequence = TokenSequence(masked: model.length, vocabularySize: model.vocabularySize)
        self.predictive = Array(repeating: 0, count: model.length * model.vocabularySize)
    }

    /// One model evaluation at the current tokens.
    mutating func evaluate(time: Double) throws {
        try model.predict(sequence, time: time, into: &predictive)
        evaluations += 1
    }

    /// Reveals position `l` with a draw from the last predictive.
    mutating func reveal(_ l: Int, precision: CategoricalPrecision, random: inout DiscreteRandom) {
        let v = sequence.vocabularySize
        sequence.tokens[l] = Int32(precision.draw(predictive, (l * v)..<((l + 1) * v), random: &random))
    }
}
