// The package's one product to import: `import DiffusionSolvers` brings every module, as
// swift-numerics' `Numerics` brings `RealModule` and `ComplexModule`. The modules and what each
// may import are in docs/ARCHITECTURE.md.
@_exported import DiffusionCore
@_exported import DiffusionDiscrete
@_exported import DiffusionEvaluation
@_exported import DiffusionFormats
@_exported import DiffusionNeural
@_exported import DiffusionRendering
@_exported import DiffusionTuning
