import Foundation

/// Where a forward pass spends its time, by kind of layer, when profiling is switched on (the
/// benchmarks' `--profile`); off, each layer pays one load and branch.
///
/// Times are exclusive: a layer timed inside another (the group norm and the projections of an
/// attention layer) is counted in its own kind and taken out of the enclosing one, so the kinds add
/// up to the time spent inside layers. Times are CPU time of the thread that calls the forward pass
/// (`CLOCK_THREAD_CPUTIME_ID`): with one thread, as the benchmarks profile, that is all of the work,
/// and time the thread spends preempted by other processes is not counted. Not for concurrent
/// forward passes.
package enum LayerProfile {
    /// The kinds of layer timed apart.
    package enum Kind: String, CaseIterable, Sendable {
        /// 3×3 and 1×1 convolutions (`Convolution2D`), their im2col packing included.
        case convolution
        /// Group norms, with the SiLU fused into them where the network applies one.
        case groupNorm = "groupnorm+silu"
        /// Stand-alone SiLU (the time embedding's).
        case silu
        /// Attention's own work: scores, softmax and the value product (its norm and projections excluded).
        case attention
        /// Fully connected products: the time embedding, `time_emb_proj`, the attention projections.
        case linear
        /// Everything else inside a layer: residual and embedding additions, upsampling, concatenation.
        case other
    }

    nonisolated(unsafe) private static var enabled = false
    nonisolated(unsafe) private static var totals = [Double](repeating: 0, count: Kind.allCases.count)
    /// Per open measurement, the time its nested measurements took.
    nonisolated(unsafe) private static var nested: [Double] = []

    /// Clears the totals and switches recording on or off.
    package static func reset(enabled on: Bool) {
        enabled = on
        totals = [Double](repeating: 0, count: Kind.allCases.count)
        nested = []
    }

    /// Seconds recorded per kind since the last ``reset(enabled:)``.
    package static var seconds: [Kind: Double] {
        Dictionary(uniqueKeysWithValues: Kind.allCases.enumerated().map { ($1, totals[$0]) })
    }

    /// Runs `body`, adding its time, less that of the measurements nested in it, to `kind`.
    @inline(__always)
    static func measure<T>(_ kind: Kind, _ body: () -> T) -> T {
        guard enabled else { return body() }
        let start = threadTime()
        nested.append(0)
        let result = body()
        let elapsed = threadTime() - start
        let inner = nested.removeLast()
        totals[Kind.allCases.firstIndex(of: kind)!] += elapsed - inner
        if !nested.isEmpty { nested[nested.count - 1] += elapsed }
        return result
    }

    /// CPU seconds the calling thread has used.
    private static func threadTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
