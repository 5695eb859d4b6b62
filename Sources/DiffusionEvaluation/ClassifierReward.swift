import RealModule
import DiffusionCore

/// The reward `r(x₀) = log p(c | x₀)`: the log-probability a ``FeatureClassifier`` gives class `c`
/// (log-softmax of its logits), for steering the digits networks toward a digit without gradients
/// (FK steering, SVDD). Samples outside the classifier's data get low rewards, so steering also
/// favours recognisable samples.
public struct ClassifierReward: Reward {
    public let classifier: FeatureClassifier
    public let target: Int

    /// - Throws: `ModelError` when `target` is not one of the classifier's classes.
    public init(classifier: FeatureClassifier, target: Int) throws {
        guard (0..<classifier.classCount).contains(target) else {
            throw ModelError("class reward: class \(target) is not one of classifier \(classifier.name)'s (0...\(classifier.classCount - 1))")
        }
        self.classifier = classifier
        self.target = target
    }

    public var name: String { "class:\(target)" }

    public func rewards(of data: SampleTensor, label: Int?) throws -> [Double] {
        try classifier.logits(of: data).map { row in
            let top = row.max() ?? 0
            return row[target] - top - Double.log(row.reduce(0) { $0 + Double.exp($1 - top) })
        }
    }
}
