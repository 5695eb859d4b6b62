import Foundation

/// How many threads data-parallel loops may use.
public enum Parallelism {
    /// `1` runs every loop on the calling thread; any other value lets loops use all cores.
    /// Results do not depend on it: each index's work is independent (tests check bit equality).
    nonisolated(unsafe) public static var maximumThreads = 0
}

/// Runs `body(i)` for `i` in `0..<count`, spread over the machine's cores.
///
/// Each index must write only memory that no other index touches; results then do not depend
/// on the thread count or scheduling order.
@inlinable
package func parallelFor(_ count: Int, minimumWork: Bool = true, _ body: @escaping @Sendable (Int) -> Void) {
    if count <= 1 || !minimumWork || Parallelism.maximumThreads == 1 {
        for i in 0..<count { body(i) }
    } else {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A pointer handed to concurrent workers that write disjoint parts of it.
@usableFromInline
package struct SharedPointer<T>: @unchecked Sendable {
    @usableFromInline package let base: UnsafeMutablePointer<T>
    @usableFromInline package init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// A read-only buffer handed to concurrent workers.
@usableFromInline
package struct SharedBuffer<T>: @unchecked Sendable {
    @usableFromInline package let buffer: UnsafeBufferPointer<T>
    @usableFromInline package init(_ buffer: UnsafeBufferPointer<T>) { self.buffer = buffer }
}
