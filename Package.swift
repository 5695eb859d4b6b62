// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "DiffusionSolvers",
    products: [
        .library(name: "DiffusionSolvers", targets: ["DiffusionSolvers"]),
        .executable(name: "diffuse", targets: ["diffuse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // The sampler library: noise schedules, step schedules, models, solvers, file formats, and the
        // U-Net runtime. Resources/Models holds the shipped networks (each with a model card).
        .target(
            name: "DiffusionSolvers",
            dependencies: [.product(name: "RealModule", package: "swift-numerics")],
            resources: [.copy("Resources")]
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
        // Helpers shared by the test targets: fixture loading, tolerances, order fitting.
        .target(name: "DiffusionTestSupport", dependencies: ["DiffusionSolvers"], path: "Tests/DiffusionTestSupport"),
        .testTarget(
            name: "DiffusionSolversTests",
            dependencies: ["DiffusionSolvers", "DiffusionTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "DiffuseCLITests",
            dependencies: ["DiffuseCLI", "DiffusionSolvers", "DiffusionTestSupport"]
        ),
    ]
)
