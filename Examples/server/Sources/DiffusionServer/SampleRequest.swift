import DiffusionSolvers
import Foundation

/// The JSON body of `POST /sample`: what `diffuse sample --model M --solver S --steps N --seed K
/// --count C --output F` takes, with the same defaults.
///
/// ```json
/// {"model": "digits", "solver": "dpmpp_2m", "steps": 20, "seed": 0, "count": 16, "format": "png"}
/// ```
public struct SampleRequest: Codable, Sendable, Equatable {
    /// A built-in model (`BuiltInModels.names`); default `digits`.
    public var model: String?
    /// A catalog solver name; default: what the resolver chooses for the budget (`diffuse sample`'s default).
    public var solver: String?
    /// Solver steps (without `solver`: the NFE budget); default 20.
    public var steps: Int?
    /// Seed of the initial and step noise; default 0.
    public var seed: UInt64?
    /// Number of samples; default 16.
    public var count: Int?
    /// `png` (an image grid, or a scatter plot of 2-D samples) or `npy` (float32 samples); default `png`.
    public var format: Format?

    public enum Format: String, Codable, Sendable { case png, npy }

    public init(model: String? = nil, solver: String? = nil, steps: Int? = nil, seed: UInt64? = nil, count: Int? = nil,
                format: Format? = nil) {
        self.model = model; self.solver = solver; self.steps = steps; self.seed = seed; self.count = count; self.format = format
    }

    /// The largest `count` and `steps` one request may ask for: a request's work is bounded.
    public static let maxCount = 64, maxSteps = 200

    /// Decodes a body, naming the first thing wrong with it in one line.
    public static func decode(_ body: Data) throws(RequestError) -> SampleRequest {
        let request: SampleRequest
        do {
            let decoder = JSONDecoder()
            request = try decoder.decode(SampleRequest.self, from: body)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw RequestError("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw RequestError("field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)")
        } catch {
            throw RequestError("the body is not a JSON object of sampling options")
        }
        try request.validate()
        return request
    }

    /// Checks the ranges a sampling run needs before any work starts.
    public func validate() throws(RequestError) {
        if let model, !BuiltInModels.names.contains(model) {
            throw RequestError("unknown model '\(model)' (known: \(BuiltInModels.names.joined(separator: ", ")))")
        }
        if let solver, SolverCatalog.entry(named: solver) == nil {
            throw RequestError("unknown solver '\(solver)'")
        }
        if let steps, !(1...Self.maxSteps).contains(steps) {
            throw RequestError("steps must be in 1...\(Self.maxSteps), got \(steps)")
        }
        if let count, !(1...Self.maxCount).contains(count) {
            throw RequestError("count must be in 1...\(Self.maxCount), got \(count)")
        }
    }
}

/// A request the service refuses: one line naming the cause (HTTP 400).
public struct RequestError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
