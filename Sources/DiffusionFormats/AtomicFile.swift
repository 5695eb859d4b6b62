import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error raised when a file cannot be written, naming the path and the operating-system reason.
///
/// The ``description`` is one line, for example
/// `cannot write '/no/such/dir/out.npy': creating temporary file: No such file or directory`.
public struct FileWriteError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The destination path that was being written.
    public var path: String
    /// What went wrong.
    public var reason: String

    /// Creates an error for `path` with a one-line `reason`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `cannot write '<path>': <reason>` on a single line.
    public var description: String {
        FileFormatError.singleLine("cannot write '\(path)': \(reason)")
    }
}

/// Writes whole files atomically: readers see either the old file or the complete new one.
///
/// The bytes go to a temporary file in the destination's directory (named `.<name>.tmp-<random>`),
/// which is flushed to disk and then renamed over the destination with POSIX `rename(2)`. Because
/// the rename happens within one directory (one file system) it is atomic, so a failed or
/// interrupted write never leaves a partial file at the destination; on failure the temporary
/// file is removed. See <https://pubs.opengroup.org/onlinepubs/9699919799/functions/rename.html>.
///
/// The new file gets the default permissions for new files (`0666` less the umask), not those of
/// the file it replaces. A symbolic link at the destination is replaced by the file itself.
public enum AtomicFile {
    /// Atomically replaces (or creates) the file at `url` with `data`.
    ///
    /// - Throws: ``FileWriteError`` naming the path when the directory does not exist, is not
    ///   writable, the disk is full, or the destination is a directory.
    public static func write(_ data: Data, to url: URL) throws {
        let destinationPath = url.path
        guard url.isFileURL else {
            throw FileWriteError(path: url.absoluteString, reason: "not a file URL")
        }
        let name = url.lastPathComponent
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw FileWriteError(path: destinationPath, reason: "the URL does not name a file")
        }
        let directory = url.deletingLastPathComponent()

        // Try a few random names in the unlikely case that one is already taken.
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let temporary = directory.appendingPathComponent(".\(name.prefix(200)).tmp-\(suffix)")
            let fd = temporary.withUnsafeFileSystemRepresentation { path -> Int32 in
                guard let path else { return -1 }
                return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            }
            if fd < 0 {
                let code = errno
                if code == EEXIST { continue }
                throw FileWriteError(path: destinationPath, reason: "creating temporary file: \(describe(code))")
            }
            do {
                try writeAll(data, to: fd, path: destinationPath)
                if fsync(fd) != 0 {
                    let code = errno
                    _ = close(fd)
                    throw FileWriteError(path: destinationPath, reason: "flushing to disk: \(describe(code))")
                }
                if close(fd) != 0 {
                    throw FileWriteError(path: destinationPath, reason: "closing temporary file: \(describe(errno))")
                }
                let renamed = temporary.withUnsafeFileSystemRepresentation { from in
                    url.withUnsafeFileSystemRepresentation { to -> Int32 in
                        guard let from, let to else { return -1 }
                        return rename(from, to)
                    }
                }
                if renamed != 0 {
                    throw FileWriteError(path: destinationPath, reason: "renaming into place: \(describe(errno))")
                }
                return
            } catch {
                temporary.withUnsafeFileSystemRepresentation { path in
                    if let path { _ = unlink(path) }
                }
                throw error
            }
        }
        throw FileWriteError(path: destinationPath, reason: "could not create a unique temporary file")
    }

    /// Writes every byte of `data` to `fd`, retrying short writes and interrupted calls.
    /// Closes `fd` before throwing.
    private static func writeAll(_ data: Data, to fd: Int32, path: String) throws {
        let failure: Int32? = data.withUnsafeBytes { raw -> Int32? in
            guard let base = raw.baseAddress else { return nil }
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(fd, base + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if written == 0 { return EIO }
                offset += written
            }
            return nil
        }
        if let failure {
            _ = close(fd)
            throw FileWriteError(path: path, reason: "writing: \(describe(failure))")
        }
    }

    /// The C library's text for an `errno` value.
    private static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
