import DiffusionServer
import DiffusionSolvers
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The server against the library's pull-style run (``SamplingRun``), which `diffuse sample` uses:
/// the same request and seed must give the same samples bit for bit, however many requests run at once.
@Suite struct ServerTests {
    /// What `diffuse sample --model M --solver S --steps N --seed K --count C` computes, without the server.
    static func expected(model name: String, solver: String, steps: Int, seed: UInt64, count: Int) throws -> SampleTensor {
        let model = try #require(try BuiltInModels.model(named: name) as? any ScheduledDiffusionModel)
        let schedule = try model.schedulerConfig.schedule()
        let plan = try SamplingResolver.resolve(SamplingRequest(solver: solver, steps: steps), model: model, schedule: schedule,
                                                config: model.schedulerConfig)
        let noise = SeededNoise(seed: seed).initialNoise(shape: [count] + model.sampleShape)
        let x = SampleTensor.initialSample(noise: noise, schedule: schedule, level: plan.grid[0])
        func pull<S: Solver>(_ solver: S) throws -> SampleTensor {
            let run = try SamplingRun(model: model, schedule: schedule, solver: solver, grid: plan.grid, initialSample: x,
                                      noise: plan.seededStepNoise(seed: seed, schedule: schedule))
            while try run.advance() != nil {}
            return run.sample
        }
        return try pull(plan.solver)
    }

    static func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }

    @Test func concurrentRequestsGiveTheSamplesOfThePullRun() async throws {
        let app = Application(router: makeRouter())
        let cases: [(solver: String, seed: UInt64)] = [("dpmpp_2m", 0), ("dpmpp_2m", 1), ("euler_ancestral", 2), ("uni_pc", 3)]
        let answers = try await app.test(.router) { client in
            try await withThrowingTaskGroup(of: (Int, NPYArray).self) { group in
                for (i, c) in cases.enumerated() {
                    group.addTask {
                        let json = #"{"model":"digits","solver":"\#(c.solver)","steps":4,"seed":\#(c.seed),"count":2,"format":"npy"}"#
                        return try await client.execute(uri: "/sample", method: .post, body: Self.body(json)) { response in
                            #expect(response.status == .ok)
                            return (i, try NPYArray(data: Data(response.body.readableBytesView)))
                        }
                    }
                }
                var answers = [Int: NPYArray]()
                for try await (i, array) in group { answers[i] = array }
                return answers
            }
        }
        for (i, c) in cases.enumerated() {
            let expected = try Self.expected(model: "digits", solver: c.solver, steps: 4, seed: c.seed, count: 2)
            let answer = try #require(answers[i])
            #expect(answer.shape == expected.shape)
            #expect(answer.float32Values == expected.scalars, "request \(i) (\(c.solver), seed \(c.seed))")
        }
        // Distinct seeds give distinct samples (the seed reaches the run).
        #expect(answers[0]?.float32Values != answers[1]?.float32Values)
    }

    @Test func pngAnswersAreImages() async throws {
        let app = Application(router: makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/sample", method: .post, body: Self.body(#"{"steps":2,"count":4}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/png")
                let image = try PNGDecoder.decode(Data(response.body.readableBytesView))
                #expect(image.width > 8 && image.height > 8)
            }
        }
    }

    @Test(arguments: [
        (#"not json"#, "not a JSON object"),
        (#"{"steps":0}"#, "steps must be in"),
        (#"{"count":100000}"#, "count must be in"),
        (#"{"solver":"nonesuch"}"#, "unknown solver 'nonesuch'"),
        (#"{"model":"nonesuch"}"#, "unknown model 'nonesuch'"),
        (#"{"steps":"ten"}"#, "field 'steps' has the wrong type"),
        (#"{"format":"gif"}"#, "field 'format'"),
        (#"{"model":"mixture-2d","steps":2}"#, "ask for format npy"),
        (#"{"solver":"dpm_adaptive","steps":4}"#, "dpm_adaptive"),
    ])
    func badRequestsGetA400WithOneLine(body: String, cause: String) async throws {
        let app = Application(router: makeRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/sample", method: .post, body: Self.body(body)) { response in
                #expect(response.status == .badRequest)
                let text = String(buffer: response.body)
                #expect(text.contains(cause), "\(text)")
                #expect(!text.contains("\n"), "\(text)")
            }
        }
    }

    @Test func cancellationStopsTheRun() async throws {
        let service = SamplingService()
        let task = Task { try await service.sample(SampleRequest(steps: 200, count: 64)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}
