import ArgumentParser
import DiffusionServer
import Hummingbird

/// Serves sampling over HTTP: `curl -d '{"solver":"dpmpp_2m","steps":20,"seed":0}' localhost:8080/sample > a.png`.
@main
struct Server: AsyncParsableCommand {
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080

    func run() async throws {
        let app = Application(router: makeRouter(), configuration: .init(address: .hostname(host, port: port), serverName: "diffuse-server"))
        try await app.runService()
    }
}
