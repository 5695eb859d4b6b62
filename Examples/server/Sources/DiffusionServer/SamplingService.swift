import DiffusionSolvers
import Foundation

/// Samples a built-in model as `diffuse sample` does (the same resolver, initial noise and step
/// noise, so the same seed gives the same samples), with an ``AsyncSamplingRun`` that checks for
/// cancellation before every model evaluation: a request whose client has gone stops within one
/// evaluation. Requests run concurrently; only the model cache is the actor's.
public actor SamplingService {
    /// The loaded models, each read from the package's resources once.
    private var models: [String: LoadedModel] = [:]

    struct LoadedModel: Sendable {
        var model: any DiffusionModel
        var schedule: any NoiseSchedule
        var config: DiffusersSchedulerConfig?
    }

    public init() {}

    /// The samples of `request` encoded as it asks: the response body and its content type.
    public nonisolated func respond(to request: SampleRequest) async throws -> (body: Data, contentType: String) {
        let (samples, model) = try await sample(request)
        switch request.format ?? .png {
        case .npy:
            return (NPYArray(shape: samples.shape, float32: samples.scalars).serialized(), "application/octet-stream")
        case .png:
            let shape = model.sampleShape
            guard shape.count == 3 || shape.count == 2 else {
                throw RequestError("model '\(request.model ?? BuiltInModels.defaultName)' draws \(shape)-shaped samples, not images: ask for format npy")
            }
            let (c, h, w) = shape.count == 3 ? (shape[0], shape[1], shape[2]) : (1, shape[0], shape[1])
            let image = try ImageGrid.render(values: samples.scalars, count: samples.batchSize, channels: c, height: h, width: w,
                                             scale: max(1, 64 / max(h, w)))
            return (image.encoded(), "image/png")
        }
    }

    /// The samples of `request` and the model that drew them.
    public nonisolated func sample(_ request: SampleRequest) async throws -> (SampleTensor, any DiffusionModel) {
        try request.validate()
        let loaded = try await load(request.model ?? BuiltInModels.defaultName)
        let plan: SamplingPlan
        do {
            plan = try SamplingResolver.resolve(SamplingRequest(solver: request.solver, steps: request.steps ?? 20),
                                                model: loaded.model, schedule: loaded.schedule, config: loaded.config)
        } catch {
            throw RequestError("\(error)")
        }
        let seed = request.seed ?? 0
        let noise = SeededNoise(seed: seed).initialNoise(shape: [request.count ?? 16] + loaded.model.sampleShape)
        let x = SampleTensor.initialSample(noise: noise, schedule: loaded.schedule, level: plan.grid[0])
        let run: AsyncSamplingRun
        do {
            run = try AsyncSamplingRun(model: AsyncModelAdapter(loaded.model), schedule: loaded.schedule, plan: plan, initialSample: x,
                                       noise: plan.seededStepNoise(seed: seed, schedule: loaded.schedule))
        } catch {
            throw RequestError("\(error)")
        }
        return (try await run.finish(), loaded.model)
    }

    private func load(_ name: String) throws -> LoadedModel {
        if let loaded = models[name] { return loaded }
        guard let model = try BuiltInModels.model(named: name) else { throw RequestError("unknown model '\(name)'") }
        let loaded: LoadedModel
        if let trained = model as? any ScheduledDiffusionModel {
            loaded = LoadedModel(model: model, schedule: try trained.schedulerConfig.noiseSchedule(), config: trained.schedulerConfig)
        } else {
            loaded = LoadedModel(model: model, schedule: VESchedule(), config: nil)  // `diffuse sample`'s mixture default (edm)
        }
        models[name] = loaded
        return loaded
    }
}
