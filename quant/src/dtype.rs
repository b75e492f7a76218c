//! [`DType`]: the tensor element formats minke understands, with their GGUF
//! type ids and the byte sizes of their blocks.

use std::fmt;

/// A tensor's element format. Quantized formats store blocks of
/// [`crate::QK`] elements, or super-blocks of [`crate::formats::QK_K`] (the
/// K-quants and IQ4_XS); float formats are blocks of one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    /// Q4_0 blocks of 16 rows interleaved so that a kernel reads the 16
    /// rows as one stream, one register lane per row (see
    /// [`crate::formats::x16`]). Written by `minke quantize`; the bytes
    /// are Q4_0's, rearranged, so conversion either way is exact.
    Q4_0x16,
    /// Q4_1 interleaved the same way.
    Q4_1x16,
    /// Q8_0 interleaved the same way.
    Q8_0x16,
    /// ggml's 5-bit formats: offset 16 and a scale, or scale and minimum.
    Q5_0,
    Q5_1,
    /// 4-bit indices into a non-uniform table of 16 levels, 32-value blocks.
    IQ4_NL,
    /// The K-quants: 256-value super-blocks of 16- or 32-value groups with
    /// their own scales (see [`crate::formats`]).
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    /// IQ4_NL's table in 256-value super-blocks with 6-bit sub-block scales.
    IQ4_XS,
}

impl DType {
    /// Every format, in a stable order.
    pub const ALL: [DType; 18] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q4_0x16,
        DType::Q4_1x16,
        DType::Q8_0x16,
        DType::Q5_0,
        DType::Q5_1,
        DType::IQ4_NL,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::IQ4_XS,
    ];

    /// Elements per block.
    pub const fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K | DType::IQ4_XS => {
                crate::formats::QK_K
            }
            _ => crate::QK,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 | DType::Q8_0x16 => 34,
            DType::Q4_0 | DType::Q4_0x16 => 18,
            DType::Q4_1 | DType::Q4_1x16 => 20,
            DType::Q5_0 => 22,
            DType::Q5_1 => 24,
            DType::IQ4_NL => 18,
            DType::Q2_K => 84,
            DType::Q3_K => 110,
            DType::Q4_K => 144,
            DType::Q5_K => 176,
            DType::Q6_K => 210,
            DType::IQ4_XS => 136,
        }
    }

    /// Whether [`crate::formats::quantize_row`] can write this format
    /// (every format can be read). The K-quants and IQ4 formats are read
    /// from the files llama.cpp's quantizer writes.
    pub const fn can_quantize(self) -> bool {
        !matches!(
            self,
            DType::IQ4_NL
                | DType::Q2_K
                | DType::Q3_K
                | DType::Q4_K
                | DType::Q5_K
                | DType::Q6_K
                | DType::IQ4_XS
        )
    }

    /// True for the block-quantized formats, whose dot products take int8
    /// activation blocks ([`crate::BlockQ8A`]) rather than f32.
    pub const fn is_quantized(self) -> bool {
        !matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    /// Rows stored together: 16 for the interleaved formats, whose
    /// matrices must have a multiple of 16 rows and are only addressable
    /// by groups of 16 rows; 1 for the others.
    pub const fn row_group(self) -> usize {
        match self {
            DType::Q4_0x16 | DType::Q4_1x16 | DType::Q8_0x16 => 16,
            _ => 1,
        }
    }

    /// The row format an interleaved format rearranges (itself for the
    /// others).
    pub const fn plain(self) -> DType {
        match self {
            DType::Q4_0x16 => DType::Q4_0,
            DType::Q4_1x16 => DType::Q4_1,
            DType::Q8_0x16 => DType::Q8_0,
            d => d,
        }
    }

    /// The interleaved form of a row format, if it has one.
    pub const fn interleaved(self) -> Option<DType> {
        match self {
            DType::Q4_0 => Some(DType::Q4_0x16),
            DType::Q4_1 => Some(DType::Q4_1x16),
            DType::Q8_0 => Some(DType::Q8_0x16),
            _ => None,
        }
    }

    /// Bytes taken by a row of `n` elements, or `None` when `n` is not a
    /// whole number of blocks or the size overflows. For interleaved
    /// formats, a sixteenth of a group of 16 rows.
    pub const fn row_bytes(self, n: usize) -> Option<usize> {
        if n % self.block_len() != 0 {
            return None;
        }
        (n / self.block_len()).checked_mul(self.block_bytes())
    }

    /// The `ggml_type` id GGUF files use for this format (`None`: a
    /// minke-only format, which GGUF cannot hold).
    pub const fn ggml_type(self) -> Option<u32> {
        Some(match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q8_0 => 8,
            DType::BF16 => 30,
            DType::Q5_0 => 6,
            DType::Q5_1 => 7,
            DType::Q2_K => 10,
            DType::Q3_K => 11,
            DType::Q4_K => 12,
            DType::Q5_K => 13,
            DType::Q6_K => 14,
            DType::IQ4_NL => 20,
            DType::IQ4_XS => 23,
            DType::Q4_0x16 | DType::Q4_1x16 | DType::Q8_0x16 => return None,
        })
    }

    /// The format for a GGUF `ggml_type` id, if minke supports it.
    pub const fn from_ggml_type(id: u32) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::Q4_0,
            3 => DType::Q4_1,
            8 => DType::Q8_0,
            30 => DType::BF16,
            6 => DType::Q5_0,
            7 => DType::Q5_1,
            10 => DType::Q2_K,
            11 => DType::Q3_K,
            12 => DType::Q4_K,
            13 => DType::Q5_K,
            14 => DType::Q6_K,
            20 => DType::IQ4_NL,
            23 => DType::IQ4_XS,
            _ => return None,
        })
    }

    /// Lower-case name, as used on the command line and in `.minke` metadata.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::Q8_0 => "q8_0",
            DType::Q4_0 => "q4_0",
            DType::Q4_1 => "q4_1",
            DType::Q4_0x16 => "q4_0x16",
            DType::Q4_1x16 => "q4_1x16",
            DType::Q8_0x16 => "q8_0x16",
            DType::Q5_0 => "q5_0",
            DType::Q5_1 => "q5_1",
            DType::IQ4_NL => "iq4_nl",
            DType::Q2_K => "q2_k",
            DType::Q3_K => "q3_k",
            DType::Q4_K => "q4_k",
            DType::Q5_K => "q5_k",
            DType::Q6_K => "q6_k",
            DType::IQ4_XS => "iq4_xs",
        }
    }

    /// Parses a name written by [`DType::name`] (case-insensitive).
    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
