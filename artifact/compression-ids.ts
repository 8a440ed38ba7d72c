// mender-artifact's --compression ids, apart from the (de)compressors in compression.ts so the
// CLI's usage text does not load zlib and the xz/zstd engines.
export const COMPRESSION_IDS = ['none', 'gzip', 'lzma', 'zstd_fastest', 'zstd_fast', 'zstd_better', 'zstd_best'] as const;
export type CompressionId = (typeof COMPRESSION_IDS)[number];
