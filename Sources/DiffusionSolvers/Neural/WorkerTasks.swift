import Foundation

/// Independent tasks spread over a fixed set of workers, each with its own scratch buffers.
///
/// Task `i` runs on worker `i mod W` (W = ``workerCount``, or 1 when ``Parallelism/maximumThreads``
/// is 1), and every task writes only its own outputs, so results are the same bits for any number
/// of threads: the thread count decides which worker's scratch a task uses, never what it computes.
enum WorkerTasks {
    /// The number of workers scratch buffers are allocated for: the machine's cores.
    static let workerCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(worker, task)` for every `task` in `0..<count`; `parallel: false` keeps small jobs
    /// on the calling thread.
    static func run(_ count: Int, parallel: Bool = true, _ body: @escaping @Sendable (_ worker: Int, _ task: Int) -> Void) {
        let workers = min(count, Parallelism.maximumThreads == 1 ? 1 : workerCount)
        guard workers > 0 else { return }
        parallelFor(workers, minimumWork: parallel) { worker in
            var task = worker
            while task < count {
                body(worker, task)
                task += workers
            }
        }
    }
}

/// One scratch buffer of `stride` floats per worker, 64-byte aligned, carved from one allocation.
struct WorkerBuffers: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let stride: Int

    /// Worker `worker`'s buffer.
    func buffer(_ worker: Int) -> UnsafeMutablePointer<Float> { base + worker * stride }
}

/// Float memory aligned to 64 bytes (what the packed SIMD loads of ``MatrixMultiply`` need), owned
/// by this object and freed with it.
final class AlignedFloats: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` floats, zero-filled.
    init(count: Int) {
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.size, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { base.deallocate() }

    /// `count` is rounded up to whole 64-byte lines so that consecutive blocks stay aligned.
    static func roundedUp(_ count: Int) -> Int { (count + 15) & ~15 }
}
