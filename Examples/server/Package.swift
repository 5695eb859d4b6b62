// swift-tools-version: 6.1
import PackageDescription

// Sampling over HTTP with Hummingbird, as a package of its own beside DiffusionSolvers: an app that
// depends on DiffusionSolvers does not resolve SwiftNIO and Hummingbird because of this example.
// Run: `swift run -c release --package-path Examples/server server`; test: `swift test --package-path Examples/server`.
let package = Package(
    name: "diffusion-server",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "DiffusionSolvers", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // The service (requests, validation, sampling, encoding) and its routes.
        .target(
            name: "DiffusionServer",
            dependencies: [
                .product(name: "DiffusionSolvers", package: "DiffusionSolvers"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "server",
            dependencies: ["DiffusionServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A load test on loopback: bounded request count, concurrency and time.
        .executableTarget(
            name: "server-load",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "DiffusionServerTests",
            dependencies: [
                "DiffusionServer",
                .product(name: "DiffusionSolvers", package: "DiffusionSolvers"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
