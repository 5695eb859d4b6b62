/// Reusable memory for forward passes of a network: a stack of 64-byte aligned blocks, reset at the
/// start of each pass, plus one packing buffer per worker for ``MatrixMultiply``.
///
/// The first pass for a batch size finds out how much memory the pass needs (blocks that do not fit
/// are allocated on the side and counted); the next pass allocates one region of that size, and
/// every later pass of the same or a smaller size allocates nothing (``allocationCount`` stays put).
/// Not thread-safe: one workspace per concurrent caller.
public final class NeuralWorkspace {
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0
    private var offset = 0
    private var peak = 0
    /// Blocks allocated on the side during this pass, with the stack offset each stands for.
    private var overflow: [(offset: Int, block: UnsafeMutablePointer<Float>)] = []
    private let panelStorage: AlignedFloats
    /// One ``MatrixMultiply/panelScratchCount`` buffer per worker.
    let panels: WorkerBuffers
    /// The skip connections of a ``UNet2D`` pass, with the level each came from.
    var skipConnections: [(FeatureMap, level: Int)] = []
    /// How many times the workspace has allocated memory since it was created.
    public private(set) var allocationCount = 0

    public init() {
        panelStorage = AlignedFloats(count: WorkerTasks.workerCount * MatrixMultiply.panelScratchCount)
        panels = WorkerBuffers(base: panelStorage.base, stride: MatrixMultiply.panelScratchCount)
    }

    deinit {
        storage?.deallocate()
        for (_, block) in overflow { block.deallocate() }
    }

    /// Starts a pass: frees what the last pass allocated on the side and, if it needed more than the
    /// region holds, replaces the region with one of the size it needed.
    package func beginPass() {
        release(to: 0)
        if peak > capacity {
            storage?.deallocate()
            storage = Self.allocateFloats(peak)
            capacity = peak
            allocationCount += 1
        }
        offset = 0
    }

    /// `count` floats, uninitialized, valid until the pass ends or the stack is released below them.
    package func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let size = AlignedFloats.roundedUp(count)
        defer {
            offset += size
            peak = max(peak, offset)
        }
        if offset + size <= capacity, let storage { return storage + offset }
        let block = Self.allocateFloats(size)
        overflow.append((offset, block))
        allocationCount += 1
        return block
    }

    /// A channel-major feature map of the given size.
    package func featureMap(channels: Int, batch: Int, height: Int, width: Int) -> FeatureMap {
        FeatureMap(base: allocate(channels * batch * height * width), channels: channels, batch: batch, height: height, width: width)
    }

    /// One buffer of `count` floats per worker.
    func workerBuffers(_ count: Int) -> WorkerBuffers {
        let stride = AlignedFloats.roundedUp(count)
        return WorkerBuffers(base: allocate(stride * WorkerTasks.workerCount), stride: stride)
    }

    /// The top of the stack, to ``release(to:)`` when a layer's temporaries are done.
    var mark: Int { offset }

    /// Frees everything allocated since `mark` (side blocks are returned to the system at once, so a
    /// first pass needs no more memory than later ones).
    func release(to mark: Int) {
        while let last = overflow.last, last.offset >= mark {
            last.block.deallocate()
            overflow.removeLast()
        }
        offset = mark
    }

    private static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.size, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }
}
