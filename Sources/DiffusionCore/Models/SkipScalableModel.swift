/// A network whose skip connections can be scaled, one factor per resolution level.
public protocol SkipScalableModel: DiffusionModel {
    /// The number of resolution levels whose skip features the up path reads.
    var skipLevelCount: Int { get }
    /// The factors in use, outermost (full resolution) first; all 1 is the network as trained.
    var skipScales: [Double] { get }
    /// The same network with its skip features scaled by `scales` (outermost first).
    /// - Throws: when the number of factors is not ``skipLevelCount`` or a factor is not finite.
    func withSkipScales(_ scales: [Double]) throws -> Self
}
