import Foundation
import DiffusionCore

/// A diffusers `UNet2DModel` configuration (`config.json` as `save_pretrained` writes it), limited to
/// the architectures ``UNet2D`` runs.
///
/// Decoding takes diffusers' defaults for absent keys and ignores keys it does not use (`_class_name`
/// must be `UNet2DModel` when present). ``validate()`` (called by ``init(json:)``) rejects what the
/// runtime does not implement with a one-line `ModelError` naming the field, for example
/// `config.json: unsupported down_block_types[1] 'CrossAttnDownBlock2D' (supported: DownBlock2D, AttnDownBlock2D)`.
///
/// Supported: positional time embedding (`flip_sin_to_cos`, any `freq_shift`); down blocks
/// `DownBlock2D`/`AttnDownBlock2D`, up blocks `UpBlock2D`/`AttnUpBlock2D`, mid block `UNetMidBlock2D`
/// or none, with or without its attention; `act_fn` silu, `resnet_time_scale_shift` default,
/// convolutional down/upsampling with `downsample_padding` 1, `mid_block_scale_factor` 1; class
/// conditioning by `num_class_embeds` with `class_embed_type` null.
public struct UNet2DConfiguration: Codable, Sendable, Equatable {
    /// A supported entry of `down_block_types`: a resnet block, or one with attention.
    public enum DownBlockType: String, Codable, Sendable, CaseIterable {
        case down = "DownBlock2D"
        case attention = "AttnDownBlock2D"
    }

    /// A supported entry of `up_block_types`: a resnet block, or one with attention.
    public enum UpBlockType: String, Codable, Sendable, CaseIterable {
        case up = "UpBlock2D"
        case attention = "AttnUpBlock2D"
    }

    /// `[height, width]` of a sample; `sample_size` may be one number or a pair.
    public var sampleSize: [Int]
    public var inChannels: Int
    public var outChannels: Int
    public var centerInputSample: Bool
    public var timeEmbeddingType: String
    /// `block_out_channels[0] · 4` when null.
    public var timeEmbeddingDimension: Int?
    public var frequencyShift: Double
    public var flipSinToCos: Bool
    public var downBlockTypes: [DownBlockType]
    public var midBlockType: String?
    public var upBlockTypes: [UpBlockType]
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var midBlockScaleFactor: Double
    public var downsamplePadding: Int
    public var downsampleType: String
    public var upsampleType: String
    public var activation: String
    /// The channels of one attention head; null means one head per block.
    public var attentionHeadDimension: Int?
    public var normGroups: Int
    public var attentionNormGroups: Int?
    public var normEpsilon: Double
    public var resnetTimeScaleShift: String
    public var addAttention: Bool
    public var classEmbedType: String?
    /// The number of class embeddings; the last one is the null label (see ``UNetDiffusionModel``).
    public var classEmbeddingCount: Int?

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case sampleSize = "sample_size"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case centerInputSample = "center_input_sample"
        case timeEmbeddingType = "time_embedding_type"
        case timeEmbeddingDimension = "time_embedding_dim"
        case frequencyShift = "freq_shift"
        case flipSinToCos = "flip_sin_to_cos"
        case downBlockTypes = "down_block_types"
        case midBlockType = "mid_block_type"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case midBlockScaleFactor = "mid_block_scale_factor"
        case downsamplePadding = "downsample_padding"
        case downsampleType = "downsample_type"
        case upsampleType = "upsample_type"
        case activation = "act_fn"
        case attentionHeadDimension = "attention_head_dim"
        case normGroups = "norm_num_groups"
        case attentionNormGroups = "attn_norm_num_groups"
        case normEpsilon = "norm_eps"
        case resnetTimeScaleShift = "resnet_time_scale_shift"
        case addAttention = "add_attention"
        case classEmbedType = "class_embed_type"
        case classEmbeddingCount = "num_class_embeds"
    }

    /// Parses and validates `config.json`; every problem is a one-line `ModelError` starting with `config.json:`.
    public init(json data: Data) throws {
        do {
            self = try JSONDecoder().decode(UNet2DConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw ModelError("config.json: \(Self.describe(error))")
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError("config.json: not valid JSON")
        }
        try validate()
    }

    /// Reads and parses `config.json` at `url`.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("config.json: cannot read '\(url.path)'")
        }
        try self.init(json: data)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let name = try c.decodeIfPresent(String.self, forKey: .className), name != "UNet2DModel" {
            throw ModelError("config.json: _class_name '\(name)' is not supported (UNet2DModel)")
        }
        if let size = try? c.decodeIfPresent(Int.self, forKey: .sampleSize) {
            sampleSize = [size, size]
        } else {
            sampleSize = try c.decodeIfPresent([Int].self, forKey: .sampleSize) ?? []
        }
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? 3
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? 3
        centerInputSample = try c.decodeIfPresent(Bool.self, forKey: .centerInputSample) ?? false
        timeEmbeddingType = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingType) ?? "positional"
        timeEmbeddingDimension = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDimension)
        frequencyShift = try c.decodeIfPresent(Double.self, forKey: .frequencyShift) ?? 0
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? true
        let downNames = try c.decodeIfPresent([String].self, forKey: .downBlockTypes)
            ?? ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"]
        downBlockTypes = try downNames.enumerated().map { i, name in
            guard let type = DownBlockType(rawValue: name) else {
                throw ModelError("config.json: unsupported down_block_types[\(i)] '\(name)' (supported: \(DownBlockType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return type
        }
        midBlockType = c.contains(.midBlockType) ? try c.decodeIfPresent(String.self, forKey: .midBlockType) : "UNetMidBlock2D"
        let upNames = try c.decodeIfPresent([String].self, forKey: .upBlockTypes)
            ?? ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
        upBlockTypes = try upNames.enumerated().map { i, name in
            guard let type = UpBlockType(rawValue: name) else {
                throw ModelError("config.json: unsupported up_block_types[\(i)] '\(name)' (supported: \(UpBlockType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return type
        }
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? [224, 448, 672, 896]
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 2
        midBlockScaleFactor = try c.decodeIfPresent(Double.self, forKey: .midBlockScaleFactor) ?? 1
        downsamplePadding = try c.decodeIfPresent(Int.self, forKey: .downsamplePadding) ?? 1
        downsampleType = try c.decodeIfPresent(String.self, forKey: .downsampleType) ?? "conv"
        upsampleType = try c.decodeIfPresent(String.self, forKey: .upsampleType) ?? "conv"
        activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? "silu"
        attentionHeadDimension = c.contains(.attentionHeadDimension) ? try c.decodeIfPresent(Int.self, forKey: .attentionHeadDimension) : 8
        normGroups = try c.decodeIfPresent(Int.self, forKey: .normGroups) ?? 32
        attentionNormGroups = try c.decodeIfPresent(Int.self, forKey: .attentionNormGroups)
        normEpsilon = try c.decodeIfPresent(Double.self, forKey: .normEpsilon) ?? 1e-5
        resnetTimeScaleShift = try c.decodeIfPresent(String.self, forKey: .resnetTimeScaleShift) ?? "default"
        addAttention = try c.decodeIfPresent(Bool.self, forKey: .addAttention) ?? true
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        classEmbeddingCount = try c.decodeIfPresent(Int.self, forKey: .classEmbeddingCount)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("UNet2DModel", forKey: .className)
        try c.encode(sampleSize, forKey: .sampleSize)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(outChannels, forKey: .outChannels)
        try c.encode(centerInputSample, forKey: .centerInputSample)
        try c.encode(timeEmbeddingType, forKey: .timeEmbeddingType)
        try c.encode(timeEmbeddingDimension, forKey: .timeEmbeddingDimension)
        try c.encode(frequencyShift, forKey: .frequencyShift)
        try c.encode(flipSinToCos, forKey: .flipSinToCos)
        try c.encode(downBlockTypes, forKey: .downBlockTypes)
        try c.encode(midBlockType, forKey: .midBlockType)
        try c.encode(upBlockTypes, forKey: .upBlockTypes)
        try c.encode(blockOutChannels, forKey: .blockOutChannels)
        try c.encode(layersPerBlock, forKey: .layersPerBlock)
        try c.encode(midBlockScaleFactor, forKey: .midBlockScaleFactor)
        try c.encode(downsamplePadding, forKey: .downsamplePadding)
        try c.encode(downsampleType, forKey: .downsampleType)
        try c.encode(upsampleType, forKey: .upsampleType)
        try c.encode(activation, forKey: .activation)
        try c.encode(attentionHeadDimension, forKey: .attentionHeadDimension)
        try c.encode(normGroups, forKey: .normGroups)
        try c.encode(attentionNormGroups, forKey: .attentionNormGroups)
        try c.encode(normEpsilon, forKey: .normEpsilon)
        try c.encode(resnetTimeScaleShift, forKey: .resnetTimeScaleShift)
        try c.encode(addAttention, forKey: .addAttention)
        try c.encode(classEmbedType, forKey: .classEmbedType)
        try c.encode(classEmbeddingCount, forKey: .classEmbeddingCount)
    }

    /// The time embedding's width.
    public var embeddingDimension: Int { timeEmbeddingDimension ?? blockOutChannels[0] * 4 }

    /// Checks that the runtime implements this configuration and that its sizes are consistent.
    ///
    /// - Throws: a one-line `ModelError` naming the first unsupported or inconsistent field.
    public func validate() throws {
        func fail(_ message: String) -> ModelError { ModelError("config.json: \(message)") }
        guard sampleSize.count == 2, sampleSize.allSatisfy({ $0 > 0 }) else {
            throw fail("sample_size must be a positive integer or a pair of them, got \(sampleSize)")
        }
        guard inChannels > 0 else { throw fail("in_channels must be positive, got \(inChannels)") }
        guard outChannels > 0 else { throw fail("out_channels must be positive, got \(outChannels)") }
        guard !centerInputSample else { throw fail("center_input_sample true is not supported") }
        guard timeEmbeddingType == "positional" else {
            throw fail("unsupported time_embedding_type '\(timeEmbeddingType)' (supported: positional)")
        }
        guard frequencyShift.isFinite else { throw fail("freq_shift must be finite") }
        guard (1...16).contains(blockOutChannels.count), blockOutChannels.allSatisfy({ $0 > 0 }) else {
            throw fail("block_out_channels must be 1 to 16 positive integers, got \(blockOutChannels)")
        }
        let factor = 1 << (blockOutChannels.count - 1)
        guard sampleSize.allSatisfy({ $0 % factor == 0 }) else {
            throw fail("sample_size \(sampleSize) must be a multiple of \(factor) (the down path halves it \(blockOutChannels.count - 1) times)")
        }
        guard downBlockTypes.count == blockOutChannels.count else {
            throw fail("down_block_types has \(downBlockTypes.count) entries but block_out_channels has \(blockOutChannels.count)")
        }
        guard upBlockTypes.count == blockOutChannels.count else {
            throw fail("up_block_types has \(upBlockTypes.count) entries but block_out_channels has \(blockOutChannels.count)")
        }
        if let midBlockType, midBlockType != "UNetMidBlock2D" {
            throw fail("unsupported mid_block_type '\(midBlockType)' (supported: UNetMidBlock2D, null)")
        }
        guard layersPerBlock > 0 else { throw fail("layers_per_block must be positive, got \(layersPerBlock)") }
        guard midBlockScaleFactor == 1 else { throw fail("mid_block_scale_factor \(midBlockScaleFactor) is not supported (1)") }
        guard downsamplePadding == 1 else { throw fail("downsample_padding \(downsamplePadding) is not supported (1)") }
        guard downsampleType == "conv" else { throw fail("unsupported downsample_type '\(downsampleType)' (supported: conv)") }
        guard upsampleType == "conv" else { throw fail("unsupported upsample_type '\(upsampleType)' (supported: conv)") }
        guard activation == "silu" else { throw fail("unsupported act_fn '\(activation)' (supported: silu)") }
        guard resnetTimeScaleShift == "default" else {
            throw fail("unsupported resnet_time_scale_shift '\(resnetTimeScaleShift)' (supported: default)")
        }
        guard attentionNormGroups == nil else { throw fail("attn_norm_num_groups must be null") }
        guard classEmbedType == nil else { throw fail("unsupported class_embed_type '\(classEmbedType!)' (supported: null)") }
        if let classEmbeddingCount, classEmbeddingCount < 2 {
            throw fail("num_class_embeds must be at least 2 (the classes and the null label), got \(classEmbeddingCount)")
        }
        guard normGroups > 0, normEpsilon > 0, normEpsilon.isFinite else {
            throw fail("norm_num_groups and norm_eps must be positive, got \(normGroups) and \(normEpsilon)")
        }
        for channels in blockOutChannels where channels % normGroups != 0 {
            throw fail("norm_num_groups \(normGroups) does not divide block_out_channels entry \(channels)")
        }
        guard embeddingDimension > 0 else { throw fail("time_embedding_dim must be positive, got \(embeddingDimension)") }
        if let attentionHeadDimension {
            guard attentionHeadDimension > 0 else { throw fail("attention_head_dim must be positive, got \(attentionHeadDimension)") }
            let reversedChannels = Array(blockOutChannels.reversed())
            let attended = downBlockTypes.enumerated().filter { $0.element == .attention }.map { blockOutChannels[$0.offset] }
                + upBlockTypes.enumerated().filter { $0.element == .attention }.map { reversedChannels[$0.offset] }
                + (midBlockType != nil && addAttention ? [blockOutChannels.last!] : [])
            for channels in attended where channels % attentionHeadDimension != 0 {
                throw fail("attention_head_dim \(attentionHeadDimension) does not divide the \(channels) channels of an attention block")
            }
        }
    }

    /// The number of resolution levels (one skip-scale factor each, outermost first).
    public var levels: Int { blockOutChannels.count }

    /// Explains a decoding failure in one line, naming the field.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case let .typeMismatch(type, context), let .valueNotFound(type, context):
            return "'\(path(context))' must be \(typeName(type))"
        case let .keyNotFound(key, _):
            return "missing '\(key.stringValue)'"
        case let .dataCorrupted(context):
            return context.codingPath.isEmpty ? "not valid JSON" : "'\(path(context))' is invalid"
        @unknown default:
            return "cannot be decoded"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is [Int].Type: "an array of integers"
        case is [String].Type: "an array of strings"
        default: "a \(type)"
        }
    }
}
