import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A bounded load test of a running `server` on loopback: `--requests` POSTs to `/sample`, at most
/// `--concurrency` in flight, request i with seed i, stopping at `--time-limit` seconds. Prints
/// requests per second, latency percentiles and the errors (non-200 answers and failed connections).
@main
struct LoadTest: AsyncParsableCommand {
    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "Requests to send (1...10000).") var requests = 64
    @Option(help: "Requests in flight at once (1...64).") var concurrency = 4
    @Option(help: "Stop sending after this many seconds.") var timeLimit = 120.0
    @Option(help: "Solver of every request.") var solver = "dpmpp_2m"
    @Option(help: "Steps of every request.") var steps = 20
    @Option(help: "Samples per request.") var count = 16
    @Option(help: "Model of every request.") var model = "digits"

    func validate() throws {
        guard (1...10_000).contains(requests) else { throw ValidationError("--requests must be in 1...10000") }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be in 1...64") }
        guard timeLimit > 0 else { throw ValidationError("--time-limit must be positive") }
    }

    func run() async throws {
        guard let endpoint = URL(string: url + "/sample") else { throw ValidationError("bad --url '\(url)'") }
        let session = URLSession(configuration: .ephemeral)
        let clock = ContinuousClock(), start = clock.now
        let deadline = start + .seconds(timeLimit)
        var latencies: [Double] = [], errors: [String: Int] = [:], sent = 0

        func send(_ seed: Int) async -> (Double, String?) {
            var request = URLRequest(url: endpoint)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(#"{"model":"\#(model)","solver":"\#(solver)","steps":\#(steps),"seed":\#(seed),"count":\#(count)}"#.utf8)
            let began = clock.now
            do {
                let (_, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                return ((clock.now - began).seconds, status == 200 ? nil : "HTTP \(status)")
            } catch {
                return ((clock.now - began).seconds, "\(type(of: error))")
            }
        }

        await withTaskGroup(of: (Double, String?).self) { group in
            while sent < min(concurrency, requests) { let seed = sent; group.addTask { await send(seed) }; sent += 1 }
            while let (latency, error) = await group.next() {
                if let error { errors[error, default: 0] += 1 } else { latencies.append(latency) }
                if sent < requests && clock.now < deadline { let seed = sent; group.addTask { await send(seed) }; sent += 1 }
            }
        }
        let wall = (clock.now - start).seconds
        latencies.sort()
        func percentile(_ p: Double) -> String {
            latencies.isEmpty ? "-" : String(format: "%.0f ms", 1000 * latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)])
        }
        print("requests \(sent) (\(latencies.count) ok, \(errors.values.reduce(0, +)) errors\(errors.isEmpty ? "" : ": \(errors)")), concurrency \(concurrency), \(String(format: "%.1f", wall)) s")
        print(String(format: "throughput %.2f requests/s", Double(latencies.count) / wall) + ", latency p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(percentile(1))")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
