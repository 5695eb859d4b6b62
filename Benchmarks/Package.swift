// swift-tools-version: 6.1
// Benchmarks live apart from the tests: `swift run -c release --package-path Benchmarks diffuse-benchmarks`.
import PackageDescription

let package = Package(
    name: "DiffusionSolversBenchmarks",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "diffuse-benchmarks",
            dependencies: [.product(name: "DiffusionSolvers", package: "DiffusionSolvers")]
        ),
    ]
)
