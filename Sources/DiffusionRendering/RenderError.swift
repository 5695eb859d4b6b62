import DiffusionFormats

/// An error describing invalid arguments to one of the image renderers.
///
/// The ``description`` is one line naming the renderer and the problem, for example
/// `image grid: 10 values for 2 images of 1x2x3 (expected 12)`.
public struct RenderError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The full message, conventionally `"<renderer>: <problem>"`.
    public var message: String

    /// Creates an error with a complete message.
    public init(message: String) {
        self.message = message
    }

    /// The message on one line.
    public var description: String {
        FileFormatError.singleLine(message)
    }
}
