import Foundation
import CDiffusionKernels
import DiffusionCore

/// Float32 matrix multiplication `C = A·B (+ bias) (+ C)`, row-major, for the network layers.
///
/// The structure is GotoBLAS/BLIS (Goto & van de Geijn 2008, "Anatomy of high-performance matrix
/// multiplication", ACM TOMS 34(3)): `A` is packed once into panels of `rowTile` rows
/// (`[panel][k][8]`, zero rows past the end), `B` is packed per block of `depthBlock` rows into
/// panels of `columnTile` columns with every value repeated in four lanes (`[k][6][4]`, a chunk of
/// `chunkPanels` panels at a time), and an 8×6
/// register micro-kernel accumulates
/// ```
/// C[i₀..i₀+8, j₀..j₀+6] += Σₖ A[i₀..i₀+8, k] ⊗ B[k, j₀..j₀+6]
/// ```
/// in twelve `SIMD4<Float>` registers (lanes along the rows of `C`). Twelve accumulators, two `A`
/// vectors, one `B` vector and one product fill the sixteen vector registers of baseline x86-64,
/// and the pre-broadcast `B` avoids a shuffle per multiply (SSE has no broadcast load). Weights are
/// the `A` of every layer, so they are packed once at load time (`PackedMatrix`), one depth block
/// after another (``PackedPanels``). The fused kernels of wider units broadcast `B` from memory, so
/// their `B` panels hold each value once (`[k][6]`, a quarter of the L1 footprint).
///
/// Threads split `C` into blocks of `rowBlock` rows × a number of column panels, one block per
/// task; a task runs every depth block of its tile in order. Each element is therefore summed by
/// one thread, in blocks of `depthBlock` taken in increasing `k`, each block accumulated in one
/// register lane in increasing `k`: the same bits for any thread count, tiling, batch size (every
/// column of `C` is computed independently) or position of the element in its tile. This Swift kernel
/// has no fused multiply-add (baseline x86-64 has none, and Swift does not contract `a * b + c`);
/// CPUs with AVX2+FMA or AVX-512 run a C kernel on the same panels instead (`MicroKernel`). The AVX2
/// kernel turns the tile around: 4 rows × 24 columns with lanes along the rows of `C`, broadcasting
/// `A` from the same panels (half a panel per call) and reading `B` packed in 24-column panels, so
/// that it adds its tile to the row-major `C` with vector loads and stores (``rowMajorTile``); the
/// sums and their order are those of the other fused kernels. The AVX-512 kernel does the same with
/// 8 rows × 32 columns (a whole `A` panel per call, masked stores at the edge).
public enum MatrixMultiply {
    /// Rows of `C` per micro-kernel call (`MR`).
    static let rowTile = 8
    /// Columns of `C` per micro-kernel call (`NR`).
    static let columnTile = 6
    /// Depth per packed `B` panel (`KC`): a panel of 256 × 6 floats is 6 KiB (24 KiB with the portable
    /// kernel's four copies), held in L1 while the ``rowBlock`` rows of `A` stream past it from L2.
    /// Fixed: it sets the summation order.
    static let depthBlock = 256
    /// Rows of `C` per task (`MC`, 64 row panels, an `A` block of 512 KiB for L2): every layer's
    /// output fits one, so `B` is packed once; a larger product packs `B` once per block.
    static let rowBlock = 512
    /// Column panels of `B` packed together (`NC` = 48 columns, 48 KiB packed, 192 KiB for the portable kernel).
    static let chunkPanels = 8
    /// Columns of `B` packed together.
    static let chunkColumns = chunkPanels * columnTile
    /// Floats of packed `B`: the per-worker scratch the multiplication needs.
    static let panelScratchCount = chunkPanels * depthBlock * columnTile * 4

    /// Columns of `C` per call of the row-major kernel of `kernel`: 24 for AVX2 (`dk_rows_4x24_avx2`,
    /// 4 rows × 24 columns), 32 for AVX-512 (`dk_rows_8x32_avx512`, 8 rows × 32 columns).
    static func wideColumnTile(for kernel: MicroKernel) -> Int { kernel == .avx512 ? 32 : 24 }
    /// Columns of `B` the row-major kernels' driver packs together: `DK_PACK_COLUMNS` (8 panels of 24
    /// or 6 of 32, 192 KiB at the full depth block, for L2), the same scratch as ``panelScratchCount``.
    static let wideChunkColumns = Int(DK_PACK_COLUMNS)
    /// Row panels of `A` (8 rows each) that meet one packed chunk of `B` before the next ones: 16
    /// panels, 128 KiB at the full depth block, which with the chunk stay within a 512 KiB L2.
    static let wideRowPanels = 16
    /// Row panels of `A` up to which the AVX-512 row-major kernel reads a 32-column panel of `B` in
    /// place when its source values are two runs of 16 consecutive ones (`dk_rows_gather_8x32_avx512`:
    /// one output row of a 32-wide convolution or two of a 16-wide one, or any panel of a row-major
    /// `B`) instead of packing it: with at most 6 panels (48 output channels), each packed value would
    /// feed too few kernel calls to repay its copy.
    static let wideInPlaceRowPanels = 6
    /// Rows of `C` per task with the row-major kernel (its `A` streams from L2 ``wideRowPanels`` panels
    /// at a time, so a task's rows need not fit L2): `B` is packed once for up to 1024 rows.
    static let wideRowBlock = 1024
    /// Rows of `C` below which the products keep the column-layout kernels (16×6 or 32×6, `B` read in
    /// place, never packed), by kernel: with so few rows, packing `B` costs about what the row-major
    /// kernel saves. 32 for AVX2 (the shipped networks' 24-channel layers and 3- or 4-channel outputs
    /// stay in the column layout); 8, one whole panel, for AVX-512, whose 32×6 kernel goes through a
    /// scalar scatter. Both layouts give the same bits.
    static func wideMinimumRows(for kernel: MicroKernel) -> Int { kernel == .avx512 ? 8 : 32 }

    /// Columns of `C` per micro-kernel call of `kernel`: the task split and the packing are in these units.
    static func columnTile(for kernel: MicroKernel, rows m: Int, columns n: Int) -> Int {
        usesRowMajorKernel(kernel, rows: m, columns: n) ? wideColumnTile(for: kernel) : columnTile
    }

    /// Columns of `C` below which the products keep the column-layout kernels, by kernel: 32 (one
    /// whole panel) for AVX-512, whose 32-column tile would mostly compute padding for the batch-1
    /// products of a linear layer (`n` = 1) or of a small feature map; none for AVX2.
    static func wideMinimumColumns(for kernel: MicroKernel) -> Int {
        kernel == .avx512 ? 32 : 1
    }

    /// Whether an `m × n` product runs the row-major AVX2 or AVX-512 kernel (else the column-layout one).
    static func usesRowMajorKernel(_ kernel: MicroKernel, rows m: Int, columns n: Int) -> Bool {
        (kernel == .avx2FMA || kernel == .avx512) && m >= wideMinimumRows(for: kernel) && n >= wideMinimumColumns(for: kernel)
    }

    /// `C = A·B`, `C = A·B + bias` (bias per row of `C`), or either added to `C` (`accumulate`),
    /// for row-major `A` (m×k), `B` (k×n) and `C` (m×n).
    ///
    /// Multithreaded; results do not depend on `Parallelism.maximumThreads`. Packs `A` on every
    /// call (the network layers pack their weights once instead).
    public static func multiply(_ a: [Float], _ b: [Float], into c: inout [Float], m: Int, n: Int, k: Int,
                                bias: [Float]? = nil, accumulate: Bool = false) {
        multiply(a, b, into: &c, m: m, n: n, k: k, bias: bias, accumulate: accumulate, kernel: .best)
    }

    /// The same product with a given micro-kernel (one the CPU supports), to compare the kernels.
    package static func multiply(_ a: [Float], _ b: [Float], into c: inout [Float], m: Int, n: Int, k: Int,
                                 bias: [Float]? = nil, accumulate: Bool = false, kernel: MicroKernel) {
        precondition(kernel.isSupported, "MatrixMultiply: this CPU cannot run the \(kernel.rawValue) kernel")
        precondition(m >= 0 && n >= 0 && k >= 0, "MatrixMultiply: negative size")
        precondition(a.count == m * k && b.count == k * n && c.count == m * n,
                     "MatrixMultiply: \(a.count), \(b.count), \(c.count) values for \(m)×\(k) · \(k)×\(n)")
        precondition(bias == nil || bias!.count == m, "MatrixMultiply: bias has \(bias!.count) values for \(m) rows")
        guard m > 0, n > 0 else { return }
        let scratch = AlignedFloats(count: WorkerTasks.workerCount * panelScratchCount, zeroed: false)
        let buffers = WorkerBuffers(base: scratch.base, stride: panelScratchCount)
        let packed = PackedMatrix(a, rows: m, columns: k, parallel: m * k >= 1 << 16)
        withExtendedLifetime((scratch, packed)) {
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    (bias ?? []).withUnsafeBufferPointer { biasPointer in
                        let source = StridedMatrix(bp.baseAddress ?? UnsafePointer(scratch.base), rows: k, columns: n, rowStride: n)
                        let destination = MatrixDestination(cp.baseAddress!, rowStride: n, bias: bias == nil ? nil : biasPointer.baseAddress,
                                                            accumulate: accumulate)
                        multiply(packed.panels, source, into: destination, scratch: buffers, kernel: kernel)
                    }
                }
            }
        }
    }

    /// `C = A·B (+ bias) (+ C)` with `A` packed, `B` any panel source; multithreaded over blocks of `C`.
    ///
    /// - Parameter scratch: one buffer of at least ``panelScratchCount`` floats per worker.
    static func multiply<Source: MatrixPanelSource>(_ a: PackedPanels, _ b: Source, into c: MatrixDestination,
                                                    scratch: WorkerBuffers, kernel: MicroKernel = .best) {
        precondition(a.depth == b.rows, "MatrixMultiply: inner dimensions \(a.depth) and \(b.rows) differ")
        let m = a.rows, n = b.columns
        guard m > 0, n > 0 else { return }
        let block = usesRowMajorKernel(kernel, rows: m, columns: n) ? wideRowBlock : rowBlock
        let rowBlocks = (m + block - 1) / block
        let width = columnTile(for: kernel, rows: m, columns: n), panels = (n + width - 1) / width
        // Enough tasks for the workers to balance (as many as blocks of ⌈panels/wanted⌉ panels), the
        // panels shared out evenly between them (block `i` has panels `⌊i·panels/blocks⌋ ..<
        // ⌊(i+1)·panels/blocks⌋`, so that no task is left with a remainder); the split does not change
        // any result.
        let wanted = (4 * WorkerTasks.workerCount + rowBlocks - 1) / rowBlocks
        let panelsPerTask = (panels + min(panels, wanted) - 1) / min(panels, wanted)
        let columnBlocks = (panels + panelsPerTask - 1) / panelsPerTask
        let rowPanels = (m + rowTile - 1) / rowTile, panelsPerRowBlock = block / rowTile
        WorkerTasks.run(rowBlocks * columnBlocks, parallel: m * n * a.depth >= 1 << 17) { worker, task in
            let (rowBlockIndex, columnBlock) = task.quotientAndRemainder(dividingBy: columnBlocks)
            let rowRange = (rowBlockIndex * panelsPerRowBlock)..<min(rowPanels, (rowBlockIndex + 1) * panelsPerRowBlock)
            let columnRange = (columnBlock * panels / columnBlocks)..<((columnBlock + 1) * panels / columnBlocks)
            tile(a, b, into: c, rowPanels: rowRange, columnPanels: columnRange, panels: scratch.buffer(worker), kernel: kernel)
        }
    }

    /// The same product on the calling thread, for callers that already run one task per worker.
    ///
    /// - Parameter panels: ``panelScratchCount`` floats of scratch.
    static func multiplySerially<Source: MatrixPanelSource>(_ a: PackedPanels, _ b: Source, into c: MatrixDestination,
                                                            panels: UnsafeMutablePointer<Float>) {
        precondition(a.depth == b.rows, "MatrixMultiply: inner dimensions \(a.depth) and \(b.rows) differ")
        let width = columnTile(for: .best, rows: a.rows, columns: b.columns)
        tile(a, b, into: c, rowPanels: 0..<((a.rows + rowTile - 1) / rowTile),
             columnPanels: 0..<((b.columns + width - 1) / width), panels: panels, kernel: .best)
    }

    /// One block of `C`, in chunks of ``chunkPanels`` column panels: for each depth block the chunk of
    /// `B` is packed (reading its rows in order, which keeps power-of-two row strides from thrashing
    /// the cache) and each of its panels is multiplied by every `A` panel of the block, by `kernel`. A
    /// zero depth leaves `C` as `bias`, zero, or unchanged (`accumulate`).
    @inline(__always)
    private static func tile<Source: MatrixPanelSource>(_ a: PackedPanels, _ b: Source, into c: MatrixDestination,
                                                        rowPanels: Range<Int>, columnPanels: Range<Int>,
                                                        panels: UnsafeMutablePointer<Float>, kernel: MicroKernel) {
        let m = a.rows, n = b.columns, depth = a.depth, bias = c.bias
        if depth == 0 {
            let width = columnTile(for: kernel, rows: m, columns: n)
            for p in rowPanels {
                for i in (p * rowTile)..<min(m, (p + 1) * rowTile) {
                    let shift = bias?[i] ?? 0
                    for j in (columnPanels.lowerBound * width)..<min(n, columnPanels.upperBound * width) {
                        c.base[i * c.rowStride + j] = c.accumulate ? c.base[i * c.rowStride + j] + shift : shift
                    }
                }
            }
            return
        }
        if usesRowMajorKernel(kernel, rows: m, columns: n) {
            rowMajorTile(a, b, into: c, rowPanels: rowPanels, columnPanels: columnPanels, panels: panels, kernel: kernel)
            return
        }
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: depthBlock + chunkColumns)
        defer { offsets.deallocate() }
        for chunk in stride(from: columnPanels.lowerBound, to: columnPanels.upperBound, by: chunkPanels) {
            let chunkEnd = min(chunk + chunkPanels, columnPanels.upperBound)
            let n0 = chunk * columnTile, width = min(n, chunkEnd * columnTile) - n0
            var k0 = 0
            while k0 < depth {
                let kc = min(depthBlock, depth - k0)
                if kernel != .portable, let origin = b.inPlace(rows: k0, count: kc, columns: n0, width: width, rowOffsets: offsets,
                                                                columnOffsets: offsets + depthBlock) {
                    for q in chunk..<chunkEnd {
                        let source = InPlaceB(origin: origin, rows: offsets, columns: offsets + depthBlock + (q - chunk) * columnTile)
                        wideKernel(kernel, depth: kc, a: a, k0: k0, b: source, into: c, rowPanels: rowPanels, column: q * columnTile, n: n)
                    }
                    k0 += kc
                    continue
                }
                b.packPanels(rows: k0, count: kc, columns: n0, width: width, lanes: kernel.lanes, into: panels)
                for q in chunk..<chunkEnd {
                    let panel = panels + (q - chunk) * kc * columnTile * kernel.lanes
                    let column = q * columnTile
                    if kernel != .portable {
                        wideKernel(kernel, depth: kc, a: a, k0: k0, b: InPlaceB(origin: panel), into: c, rowPanels: rowPanels, column: column, n: n)
                        continue
                    }
                    for p in rowPanels {
                        let m0 = p * rowTile
                        Self.kernel(depth: kc, a: a.panel(p, depthOffset: k0), b: panel, c: c.base + m0 * c.rowStride + column,
                                    rowStride: c.rowStride, rows: min(rowTile, m - m0), columns: min(columnTile, n - column),
                                    bias: k0 == 0 ? bias.map { $0 + m0 } : nil, overwrite: k0 == 0 && !c.accumulate)
                    }
                }
                k0 += kc
            }
        }
    }

    /// One block of `C` with the row-major kernel of `kernel` (`columnPanels` of ``wideColumnTile(for:)``
    /// columns): per chunk of ``wideChunkColumns`` columns and depth block, `B` is packed once
    /// (`dk_pack_rows_24` or `_32`, from the source's element offsets), then each group of ``wideRowPanels``
    /// `A` panels meets each packed panel (the panel in L1, the `A` panels streaming from L2), each
    /// `A` panel whole (AVX-512) or as two 4-row halves (AVX2); with AVX-512 and at most
    /// ``wideInPlaceRowPanels`` row panels, panels of consecutive values are read in place instead.
    /// Every element is still summed block by block in increasing `k`.
    private static func rowMajorTile<Source: MatrixPanelSource>(_ a: PackedPanels, _ b: Source, into c: MatrixDestination,
                                                                rowPanels: Range<Int>, columnPanels: Range<Int>,
                                                                panels: UnsafeMutablePointer<Float>, kernel: MicroKernel) {
        let m = a.rows, n = b.columns, depth = a.depth, tile = wideColumnTile(for: kernel), chunk = wideChunkColumns / tile
        let wide = kernel == .avx512
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: depthBlock + wideChunkColumns)
        defer { offsets.deallocate() }
        let columnOffsets = offsets + depthBlock
        for first in stride(from: columnPanels.lowerBound, to: columnPanels.upperBound, by: chunk) {
            let end = min(first + chunk, columnPanels.upperBound)
            let n0 = first * tile, width = min(n, end * tile) - n0
            var k0 = 0
            while k0 < depth {
                let kc = min(depthBlock, depth - k0)
                let origin = b.offsets(rows: k0, count: kc, columns: n0, width: width, rowOffsets: offsets, columnOffsets: columnOffsets)
                let mode = Int32(k0 > 0 ? DK_STORE_ADD : c.accumulate ? DK_STORE_ACCUMULATE : DK_STORE_SET)
                let bias = k0 == 0 ? c.bias : nil
                if wide && rowPanels.count <= wideInPlaceRowPanels {
                    // Few rows of `A`: a panel of two runs of 16 consecutive source values is read where it lies, not packed.
                    for q in first..<end {
                        let column = q * tile, columns = min(tile, n - column), local = columnOffsets + (q - first) * tile
                        var consecutive = columns == tile
                        for t in 1..<tile where consecutive { consecutive = local[t] == local[t < 16 ? 0 : 16] + t % 16 }
                        if !consecutive { dk_pack_rows_32(kc, origin, offsets, local, columns, panels) }
                        for p in rowPanels {
                            let m0 = p * rowTile, target = c.base + m0 * c.rowStride + column, shift = bias.map { $0 + m0 }
                            if consecutive {
                                dk_rows_gather_8x32_avx512(kc, a.panel(p, depthOffset: k0), origin + local[0], origin + local[16], offsets,
                                                           target, c.rowStride, min(rowTile, m - m0), shift, mode)
                            } else {
                                dk_rows_8x32_avx512(kc, a.panel(p, depthOffset: k0), panels, target, c.rowStride, min(rowTile, m - m0),
                                                    columns, shift, mode)
                            }
                        }
                    }
                    k0 += kc
                    continue
                }
                if wide {
                    dk_pack_rows_32(kc, origin, offsets, columnOffsets, width, panels)
                } else {
                    dk_pack_rows_24(kc, origin, offsets, columnOffsets, width, panels)
                }
                for group in stride(from: rowPanels.lowerBound, to: rowPanels.upperBound, by: wideRowPanels) {
                    let groupEnd = min(group + wideRowPanels, rowPanels.upperBound)
                    for q in first..<end {
                        let panel = panels + (q - first) * kc * tile, column = q * tile, columns = min(tile, n - column)
                        for p in group..<groupEnd {
                            let aPanel = a.panel(p, depthOffset: k0)
                            var m0 = p * rowTile
                            if wide {
                                dk_rows_8x32_avx512(kc, aPanel, panel, c.base + m0 * c.rowStride + column, c.rowStride,
                                                    min(rowTile, m - m0), columns, bias.map { $0 + m0 }, mode)
                                continue
                            }
                            for half in 0..<2 where m0 < m {
                                dk_rows_4x24_avx2(kc, aPanel + 4 * half, panel, c.base + m0 * c.rowStride + column, c.rowStride,
                                                  min(4, m - m0), columns, bias.map { $0 + m0 }, mode)
                                m0 += 4
                            }
                        }
                    }
                }
                k0 += kc
            }
        }
    }

    /// One `B` panel against every `A` panel of `rowPanels` with a C kernel (`MicroKernel`), a few
    /// panels per call; the tiles are stored as the portable kernel stores its own.
    private static func wideKernel(_ kernel: MicroKernel, depth kc: Int, a: PackedPanels, k0: Int, b panel: InPlaceB,
                                   into c: MatrixDestination, rowPanels: Range<Int>, column: Int, n: Int) {
        let m = a.rows, bias = c.bias, columns = min(columnTile, n - column)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * rowTile * columnTile) { buffer in
            let tiles = buffer.baseAddress!
            var p = rowPanels.lowerBound
            while p < rowPanels.upperBound {
                let taken = kernel.tiles(depth: kc, a: a.panel(p, depthOffset: k0), panelStride: kc * rowTile,
                                         available: rowPanels.upperBound - p, b: panel, into: tiles)
                for t in 0..<taken {
                    let m0 = (p + t) * rowTile
                    storeTile(tiles + t * rowTile * columnTile, to: c.base + m0 * c.rowStride + column, rowStride: c.rowStride,
                              rows: min(rowTile, m - m0), columns: columns, bias: k0 == 0 ? bias.map { $0 + m0 } : nil,
                              overwrite: k0 == 0 && !c.accumulate)
                }
                p += taken
            }
        }
    }

    /// The 8×6 micro-kernel: `depth` steps of `acc[8×6] += a[k, 0..<8] ⊗ b[k, 0..<6]`, then
    /// `C = acc (+ bias)` (`overwrite`) or `C += acc (+ bias)` for the `rows × columns` corner that lies
    /// inside `C`. Padded rows and columns are computed and dropped, so an edge tile gives the same
    /// bits as a full one.
    @inline(__always)
    private static func kernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                               c: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, columns: Int,
                               bias: UnsafePointer<Float>?, overwrite: Bool) {
        var c00 = SIMD4<Float>(), c10 = c00, c01 = c00, c11 = c00, c02 = c00, c12 = c00
        var c03 = c00, c13 = c00, c04 = c00, c14 = c00, c05 = c00, c15 = c00
        var ap = UnsafeRawPointer(a), bp = UnsafeRawPointer(b)
        for _ in 0..<depth {
            let a0 = ap.load(as: SIMD4<Float>.self), a1 = ap.load(fromByteOffset: 16, as: SIMD4<Float>.self)
            var bj = bp.load(as: SIMD4<Float>.self)
            c00 += a0 * bj; c10 += a1 * bj
            bj = bp.load(fromByteOffset: 16, as: SIMD4<Float>.self)
            c01 += a0 * bj; c11 += a1 * bj
            bj = bp.load(fromByteOffset: 32, as: SIMD4<Float>.self)
            c02 += a0 * bj; c12 += a1 * bj
            bj = bp.load(fromByteOffset: 48, as: SIMD4<Float>.self)
            c03 += a0 * bj; c13 += a1 * bj
            bj = bp.load(fromByteOffset: 64, as: SIMD4<Float>.self)
            c04 += a0 * bj; c14 += a1 * bj
            bj = bp.load(fromByteOffset: 80, as: SIMD4<Float>.self)
            c05 += a0 * bj; c15 += a1 * bj
            ap += 32
            bp += 96
        }
        // Column j of the tile is accumulators (c0j, c1j): element (i, j) at j·8 + i.
        var accumulators = (c00, c10, c01, c11, c02, c12, c03, c13, c04, c14, c05, c15)
        withUnsafeBytes(of: &accumulators) { raw in
            storeTile(raw.baseAddress!.assumingMemoryBound(to: Float.self), to: c, rowStride: rowStride, rows: rows, columns: columns,
                      bias: bias, overwrite: overwrite)
        }
    }

    /// Stores an 8×6 tile (`tile[j·8 + i]`) on the `rows × columns` corner of `C` that lies inside it.
    @inline(__always)
    private static func storeTile(_ tile: UnsafePointer<Float>, to c: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, columns: Int,
                                  bias: UnsafePointer<Float>?, overwrite: Bool) {
        if rows == rowTile && columns == columnTile {
            store(tile, to: c, rowStride: rowStride, rows: rowTile, columns: columnTile, bias: bias, overwrite: overwrite)
        } else {
            store(tile, to: c, rowStride: rowStride, rows: rows, columns: columns, bias: bias, overwrite: overwrite)
        }
    }

    /// `C = tile (+ bias)` or `C += tile (+ bias)` on the `rows × columns` corner; inlined with the
    /// full tile's constant sizes, the loops unroll.
    @inline(__always)
    private static func store(_ tile: UnsafePointer<Float>, to c: UnsafeMutablePointer<Float>, rowStride: Int, rows: Int, columns: Int,
                              bias: UnsafePointer<Float>?, overwrite: Bool) {
        for i in 0..<rows {
            let row = c + i * rowStride
            switch (bias, overwrite) {
            case let (bias?, true): for j in 0..<columns { row[j] = tile[j * 8 + i] + bias[i] }
            case let (bias?, false): for j in 0..<columns { row[j] += tile[j * 8 + i] + bias[i] }
            case (nil, true): for j in 0..<columns { row[j] = tile[j * 8 + i] }
            case (nil, false): for j in 0..<columns { row[j] += tile[j * 8 + i] }
            }
        }
    }
}

/// A matrix read through strides: element `(i, j)` is `base[i·rowStride + j·columnStride]`, so a
/// transpose or a block of a larger matrix is the same memory with other strides.
package struct StridedMatrix: @unchecked Sendable {
    package let base: UnsafePointer<Float>
    let rows: Int
    let columns: Int
    let rowStride: Int
    let columnStride: Int

    package init(_ base: UnsafePointer<Float>, rows: Int, columns: Int, rowStride: Int, columnStride: Int = 1) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.rowStride = rowStride
        self.columnStride = columnStride
    }

    /// The transpose, without copying.
    var transposed: StridedMatrix {
        StridedMatrix(base, rows: columns, columns: rows, rowStride: columnStride, columnStride: rowStride)
    }
}

/// The right operand `B` (k×n) of a product, packed on demand into the micro-kernel's layout; a
/// convolution's input is one without ever forming its im2col matrix (see ``Im2ColSource``).
protocol MatrixPanelSource: Sendable {
    /// `k`.
    var rows: Int { get }
    /// `n`.
    var columns: Int { get }
    /// Packs `B[k0 ..< k0+count, n0 ..< n0+width]` as `⌈width/6⌉` panels of `count × 6` values, each
    /// value written `lanes` times (4 for the portable kernel, which has no broadcast load; 1 for the
    /// others): `B[k0 + r, n0 + 6q + j]` at `panels[((q·count + r)·6 + j)·lanes ..< +lanes]`, zeros for
    /// the columns past `width` in the last panel.
    func packPanels(rows k0: Int, count: Int, columns n0: Int, width: Int, lanes: Int, into panels: UnsafeMutablePointer<Float>)
    /// The same block read in place, for the fused kernels: `B[k0 + r, n0 + t]` is
    /// `origin[rowOffsets[r] + columnOffsets[t]]` (`columnOffsets` filled up to a whole panel, with
    /// offsets that stay inside the source past `width`); nil if `B` must be packed.
    func inPlace(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>?
    /// Where the block's values lie, for `dk_pack_rows_24`: `B[k0 + r, n0 + t]` is
    /// `origin[rowOffsets[r] + columnOffsets[t]]` for `r < count`, `t < width`.
    func offsets(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>
}

extension MatrixPanelSource {
    func inPlace(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float>? { nil }

    /// Packs `line[0..<width]` as row `r` of a block of `count` rows, zero-filling the last panel:
    /// `line` must hold ``MatrixMultiply/chunkColumns`` floats (the padding is written into it).
    @inline(__always)
    static func packRow(_ line: UnsafeMutablePointer<Float>, width: Int, row r: Int, count: Int, lanes: Int,
                        into panels: UnsafeMutablePointer<Float>) {
        let panelCount = (width + MatrixMultiply.columnTile - 1) / MatrixMultiply.columnTile
        for j in width..<(panelCount * MatrixMultiply.columnTile) { line[j] = 0 }
        if lanes == 1 {
            var out = panels + r * MatrixMultiply.columnTile
            for q in 0..<panelCount {
                let values = line + q * MatrixMultiply.columnTile
                for j in 0..<MatrixMultiply.columnTile { out[j] = values[j] }
                out += count * MatrixMultiply.columnTile
            }
            return
        }
        var out = UnsafeMutableRawPointer(panels) + r * 96
        for q in 0..<panelCount {
            let values = line + q * MatrixMultiply.columnTile
            for j in 0..<MatrixMultiply.columnTile {
                out.storeBytes(of: SIMD4(repeating: values[j]), toByteOffset: j * 16, as: SIMD4<Float>.self)
            }
            out += count * 96
        }
    }

    /// Runs `body` with a scratch line of ``MatrixMultiply/chunkColumns`` floats (on the stack).
    @inline(__always)
    static func withLine(_ body: (UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: MatrixMultiply.chunkColumns) { body($0.baseAddress!) }
    }
}

extension StridedMatrix: MatrixPanelSource {
    func offsets(rows k0: Int, count: Int, columns n0: Int, width: Int, rowOffsets: UnsafeMutablePointer<Int>,
                 columnOffsets: UnsafeMutablePointer<Int>) -> UnsafePointer<Float> {
        for r in 0..<count { rowOffsets[r] = (k0 + r) * rowStride }
        for t in 0..<width { columnOffsets[t] = (n0 + t) * columnStride }
        return base
    }

    func packPanels(rows k0: Int, count: Int, columns n0: Int, width: Int, lanes: Int, into panels: UnsafeMutablePointer<Float>) {
        Self.withLine { line in
            for r in 0..<count {
                let row = base + (k0 + r) * rowStride + n0 * columnStride
                if lanes == 1 && columnStride == 1 {
                    // Straight from the row into the panels, each value once; full panels without a test.
                    let tile = MatrixMultiply.columnTile, full = width / tile
                    var out = panels + r * tile, values = row
                    for _ in 0..<full {
                        out[0] = values[0]; out[1] = values[1]; out[2] = values[2]
                        out[3] = values[3]; out[4] = values[4]; out[5] = values[5]
                        out += count &* tile
                        values += tile
                    }
                    if full * tile < width {
                        for t in 0..<tile { out[t] = full * tile + t < width ? values[t] : 0 }
                    }
                    continue
                }
                for column in 0..<width { line[column] = row[column * columnStride] }
                Self.packRow(line, width: width, row: r, count: count, lanes: lanes, into: panels)
            }
        }
    }
}

/// Where and how a product is written: `C` row-major with `rowStride` (a block of a larger matrix
/// allowed), plus `bias[i]` on row `i` if given, added to what `C` holds when `accumulate`.
struct MatrixDestination: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let rowStride: Int
    let bias: UnsafePointer<Float>?
    let accumulate: Bool

    init(_ base: UnsafeMutablePointer<Float>, rowStride: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        self.base = base
        self.rowStride = rowStride
        self.bias = bias
        self.accumulate = accumulate
    }
}

/// A view of a left operand packed for the micro-kernel, block by block of ``MatrixMultiply/depthBlock``
/// columns: within the block starting at column `k0` (`kc` wide), panel `p` (rows `8p ..< 8p+8`, zeros
/// past the end) is `[kc][8]` floats at `k0·8⌈rows/8⌉ + p·kc·8`. The panels a micro-kernel call reads
/// together are adjacent (a whole-depth panel layout put them `depth·32` bytes apart, the same L1 set
/// for power-of-two depths).
struct PackedPanels: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let rows: Int
    let depth: Int

    /// The start of panel `p` in the depth block starting at `k0` (a multiple of the block).
    @inline(__always)
    func panel(_ p: Int, depthOffset k0: Int) -> UnsafePointer<Float> {
        let padded = (rows + MatrixMultiply.rowTile - 1) / MatrixMultiply.rowTile * MatrixMultiply.rowTile
        return base + k0 * padded + p * min(MatrixMultiply.depthBlock, depth - k0) * MatrixMultiply.rowTile
    }

    /// The floats that `rows × depth` takes when packed.
    static func count(rows: Int, depth: Int) -> Int {
        (rows + MatrixMultiply.rowTile - 1) / MatrixMultiply.rowTile * MatrixMultiply.rowTile * depth
    }

    /// Packs `matrix` into `storage` (``count(rows:depth:)`` floats) and returns the view; `parallel`
    /// shares the panels out between the workers (each panel is written by one of them, so the same
    /// values either way).
    static func pack(_ matrix: StridedMatrix, into storage: UnsafeMutablePointer<Float>, parallel: Bool = false) -> PackedPanels {
        let panels = (matrix.rows + MatrixMultiply.rowTile - 1) / MatrixMultiply.rowTile
        let packed = PackedPanels(base: storage, rows: matrix.rows, depth: matrix.columns)
        guard parallel, WorkerTasks.workerCount > 1, panels > 1 else {
            packed.pack(matrix, panels: 0..<panels)
            return packed
        }
        let tasks = min(panels, 4 * WorkerTasks.workerCount)
        WorkerTasks.run(tasks) { _, task in packed.pack(matrix, panels: (task * panels / tasks)..<((task + 1) * panels / tasks)) }
        return packed
    }

    /// Writes panels `panels` of `matrix` into this view's storage.
    private func pack(_ matrix: StridedMatrix, panels: Range<Int>) {
        let tile = MatrixMultiply.rowTile, packed = self
        for k0 in stride(from: 0, to: matrix.columns, by: MatrixMultiply.depthBlock) {
            let kc = min(MatrixMultiply.depthBlock, matrix.columns - k0)
            for p in panels {
                let panel = UnsafeMutablePointer(mutating: packed.panel(p, depthOffset: k0))
                let first = matrix.base + p * tile * matrix.rowStride + k0 * matrix.columnStride
                if (p + 1) * tile <= matrix.rows {
                    // A full panel: from eight rows (`dk_pack_panel_8`, 4×4 transposes where SSE is there),
                    // else one `k` at a time, eight adjacent values of a transposed view or eight reads.
                    let (rowStride, columnStride) = (matrix.rowStride, matrix.columnStride)
                    if columnStride == 1 && rowStride != 1 {
                        dk_pack_panel_8(first, rowStride, kc, panel)
                        continue
                    }
                    for k in 0..<kc {
                        let source = first + k * columnStride, out = panel + k * tile
                        if rowStride == 1 {
                            UnsafeMutableRawPointer(out).storeBytes(of: UnsafeRawPointer(source).loadUnaligned(as: SIMD8<Float>.self),
                                                                    as: SIMD8<Float>.self)
                        } else {
                            for r in 0..<tile { out[r] = source[r * rowStride] }
                        }
                    }
                    continue
                }
                for r in 0..<tile {
                    let i = p * tile + r
                    if i < matrix.rows {
                        let row = matrix.base + i * matrix.rowStride + k0 * matrix.columnStride
                        for k in 0..<kc { panel[k * tile + r] = row[k * matrix.columnStride] }
                    } else {
                        for k in 0..<kc { panel[k * tile + r] = 0 }
                    }
                }
            }
        }
    }
}

/// A left operand packed once and kept: the weights of a layer (immutable, so shareable).
final class PackedMatrix: Sendable {
    private let storage: AlignedFloats
    let panels: PackedPanels

    /// Packs a row-major `rows × columns` array (on every worker when `parallel`).
    init(_ values: [Float], rows: Int, columns: Int, parallel: Bool = false) {
        precondition(values.count == rows * columns, "PackedMatrix: \(values.count) values for \(rows)×\(columns)")
        // Packing writes every value, padding rows included.
        let storage = AlignedFloats(count: PackedPanels.count(rows: rows, depth: columns), zeroed: false)
        self.storage = storage
        panels = values.withUnsafeBufferPointer { buffer in
            PackedPanels.pack(StridedMatrix(buffer.baseAddress ?? UnsafePointer(storage.base), rows: rows, columns: columns, rowStride: columns),
                              into: storage.base, parallel: parallel)
        }
    }
}
