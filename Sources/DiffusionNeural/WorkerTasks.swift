import Foundation
import DiffusionCore

/// Independent tasks spread over a fixed set of workers, each with its own scratch buffers.
///
/// Workers take the next task from a shared counter as they finish the previous one, so a worker
/// slowed by another process on a shared machine does not hold the others back. Every task writes
/// only its own outputs and uses its worker's scratch only while it runs, so results are the same
/// bits for any number of threads and any order: the schedule decides which worker's scratch a
/// task uses, never what it computes.
enum WorkerTasks {
    /// The number of workers scratch buffers are allocated for: the machine's cores.
    static let workerCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(worker, task)` for every `task` in `0..<count`; `parallel: false` keeps small jobs
    /// on the calling thread.
    static func run(_ count: Int, parallel: Bool = true, _ body: @escaping @Sendable (_ worker: Int, _ task: Int) -> Void) {
        let workers = min(count, Parallelism.maximumThreads == 1 ? 1 : workerCount)
        guard workers > 0 else { return }
        let next = TaskCounter(count)
        parallelFor(workers, minimumWork: parallel) { worker in
            while let task = next.take() { body(worker, task) }
        }
    }
}

/// The next task index, handed out once each under a lock (tasks are coarse: blocks of a matrix
/// product, so the lock is cheap next to them).
private final class TaskCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int

    init(_ count: Int) { self.count = count }

    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
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

    /// `count` floats, zero-filled, or left as the allocator gives them (`zeroed: false`, for buffers
    /// that are written before they are read: packing scratch).
    init(count: Int, zeroed: Bool = true) {
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.size, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { base.initialize(repeating: 0, count: max(count, 1)) }
    }

    deinit { base.deallocate() }

    /// `count` is rounded up to whole 64-byte lines so that consecutive blocks stay aligned.
    static func roundedUp(_ count: Int) -> Int { (count + 15) & ~15 }
}
