import DiffusionSolvers
import Foundation
import Hummingbird

/// The server's routes:
/// - `POST /sample` with a ``SampleRequest`` body: the samples, `image/png` or `.npy` bytes; a bad
///   request gets 400 and one line naming the cause. Sampling is cancelled when the client closes
///   the connection before the answer.
/// - `GET /health`: `ok`.
/// - `GET /models`: the built-in model names, one per line.
public func makeRouter(service: SamplingService = SamplingService()) -> Router<BasicRequestContext> {
    let router = Router()
    router.get("health") { _, _ in "ok" }
    router.get("models") { _, _ in BuiltInModels.names.joined(separator: "\n") }
    router.post("sample") { request, _ -> Response in
        try await request.body.consumeWithCancellationOnInboundClose { body in
            let bytes = try await body.collect(upTo: 64 * 1024)
            do {
                let parsed = try SampleRequest.decode(Data(bytes.readableBytesView))
                let (data, contentType) = try await service.respond(to: parsed)
                return Response(status: .ok, headers: [.contentType: contentType],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            } catch let error as RequestError {
                throw HTTPError(.badRequest, message: error.message)
            }
        }
    }
    return router
}
