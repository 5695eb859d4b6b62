import Testing
import Foundation
import DiffusionTestSupport

/// Figures the README states about the committed fixtures, recounted from the fixtures, so a
/// regenerated fixture cannot leave the README behind.
@Suite("README figures")
struct ReadmeFiguresTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the count of diffusers UniPC bh1 runs to sigma = 0 that return NaN is the fixtures'")
    func uniPCNaNCount() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let pattern = try Regex(#"UniPC bh1 with `final_sigmas_type="zero"` returns\s+NaN \((\d+) of our recorded cases; bh2 (once|\d+ times)\)"#)
        let match = try #require(readme.firstMatch(of: pattern), "README no longer states the count")
        let stated = Int(readme[match.output[1].range!])!
        let statedBH2 = readme[match.output[2].range!] == "once" ? 1 : Int(readme[match.output[2].range!].split(separator: " ")[0])!
        let cases = try ParityFile.load("parity_solvers.json").cases.filter { $0.reference_nan == true && $0.final == "zero" }
        #expect(cases.filter { $0.solver == "uni_pc" && $0.string("solver_type") == "bh1" }.count == stated)
        #expect(cases.filter { $0.solver == "uni_pc_bh2" }.count == statedBH2)
    }
}
