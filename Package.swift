// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "DiffusionSolvers",
    products: [
        .library(name: "DiffusionSolvers", targets: ["DiffusionSolvers"]),
        // The sampling core alone (solvers, schedules, the runs and the ask/tell scheduler), for an app
        // that brings its own model and wants neither the shipped networks nor the tuning code.
        .library(name: "DiffusionCore", targets: ["DiffusionCore"]),
        .executable(name: "diffuse", targets: ["diffuse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `swift package generate-documentation` (the DocC catalogs under Sources/*/*.docc); no code of it is linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Property-based tests (generated seeds, batch sizes and splits); used by the tests only.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // The modules and what each may import: docs/ARCHITECTURE.md. Lower layers never import higher ones.
        // File formats (safetensors, NumPy .npy, PNG, atomic writes): no dependencies.
        .target(name: "DiffusionFormats"),
        // The sampling core: tensors, noise and step schedules, the model protocol, solvers, noise
        // sources, guidance, the sampling run, and the configurations that say what runs.
        .target(
            name: "DiffusionCore",
            dependencies: ["DiffusionFormats", .product(name: "RealModule", package: "swift-numerics")]
        ),
        // Masked (discrete) diffusion: token sequences, masking schedules, the exact categorical
        // mixture, the ancestral and first-hitting samplers. Beside the core: its noise sources only.
        .target(name: "DiffusionDiscrete", dependencies: ["DiffusionCore", "DiffusionFormats", "DiffusionNeural"]),
        // The U-Net runtime, the shipped networks and their feature classifiers (Resources/Models,
        // each with a model card), and the built-in models.
        // Matrix-multiply micro-kernels for AVX2+FMA and AVX-512, chosen at run time (C: per-function
        // `target` attributes, so no flags), and NEON on arm64 (its baseline).
        .target(name: "CDiffusionKernels"),
        .target(
            name: "DiffusionNeural",
            dependencies: ["CDiffusionKernels", "DiffusionCore", "DiffusionFormats", .product(name: "RealModule", package: "swift-numerics")],
            resources: [.copy("Resources")]
        ),
        // Ground truth, metrics, Fréchet distances and seeded comparisons of samplers.
        .target(
            name: "DiffusionEvaluation",
            dependencies: ["DiffusionCore", "DiffusionNeural", .product(name: "RealModule", package: "swift-numerics")]
        ),
        // Tuning to a model: the tuner and its searches and fits.
        .target(
            name: "DiffusionTuning",
            dependencies: ["DiffusionCore", "DiffusionEvaluation", "DiffusionNeural", .product(name: "RealModule", package: "swift-numerics")]
        ),
        // Pictures of samples and results: image grids, scatter plots, line plots.
        .target(name: "DiffusionRendering", dependencies: ["DiffusionFormats"]),
        // The one product users import: re-exports every module above.
        .target(
            name: "DiffusionSolvers",
            dependencies: ["DiffusionCore", "DiffusionDiscrete", "DiffusionEvaluation", "DiffusionFormats", "DiffusionNeural", "DiffusionRendering",
                           "DiffusionTuning"]
        ),
        // The command-line tool's commands, kept in a library so tests can drive them in-process.
        .target(
            name: "DiffuseCLI",
            dependencies: [
                "DiffusionSolvers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "diffuse", dependencies: ["DiffuseCLI"]),
        // Throughput benchmarks, apart from the tests: `swift run -c release diffuse-benchmarks`.
        .executableTarget(name: "diffuse-benchmarks", dependencies: ["DiffusionSolvers"], path: "Benchmarks/Sources/diffuse-benchmarks"),
        // A pipeline that owns its loop (ml-stable-diffusion's shape) stepping a catalog solver: `swift run scheduler-loop`.
        .executableTarget(
            name: "scheduler-loop",
            dependencies: ["DiffusionSolvers", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/scheduler-loop"
        ),
        // Inpainting in the pipeline's own loop: the bottom half of a digit regenerated, `swift run inpaint`.
        .executableTarget(
            name: "inpaint",
            dependencies: ["DiffusionSolvers", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/inpaint"
        ),
        // Helpers shared by the test targets: fixture loading, tolerances, order fitting.
        .target(name: "DiffusionTestSupport", dependencies: ["DiffusionSolvers"], path: "Tests/DiffusionTestSupport"),
        .testTarget(
            name: "DiffusionSolversTests",
            dependencies: ["DiffusionSolvers", "DiffusionTestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "DiffuseCLITests",
            dependencies: ["DiffuseCLI", "DiffusionSolvers", "DiffusionTestSupport"]
        ),
    ]
)
