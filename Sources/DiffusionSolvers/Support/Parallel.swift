import Foundation

/// Runs `body(i)` for `i` in `0..<count`, spread over the machine's cores.
///
/// Each index must write only memory that no other index touches; results then do not depend
/// on the thread count or scheduling order.
@inlinable
func parallelFor(_ count: Int, minimumWork: Bool = true, _ body: @escaping @Sendable (Int) -> Void) {
    if count <= 1 || !minimumWork {
        for i in 0..<count { body(i) }
    } else {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A pointer handed to concurrent workers that write disjoint parts of it.
@usableFromInline
struct SharedPointer<T>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<T>
    @usableFromInline init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// A read-only buffer handed to concurrent workers.
@usableFromInline
struct SharedBuffer<T>: @unchecked Sendable {
    @usableFromInline let buffer: UnsafeBufferPointer<T>
    @usableFromInline init(_ buffer: UnsafeBufferPointer<T>) { self.buffer = buffer }
}
