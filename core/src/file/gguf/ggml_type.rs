//! The ggml tensor type table: every type id a GGUF file may carry, with its
//! name and block geometry.
//!
//! minke computes with only a few of these ([`DType`]), but the reader needs
//! the size of every tensor to check that none runs past the end of the file
//! or over its neighbour. So a file holding, say, Q6_K tensors still opens,
//! and only *using* such a tensor is an error.

use std::fmt;

use minke_quant::DType;

/// A known ggml tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GgmlType {
    id: u32,
    name: &'static str,
    block_len: usize,
    block_bytes: usize,
}

/// `(id, name, elements per block, bytes per block)`, as ggml's type traits
/// define them. Ids 4, 5 (old Q4_2/Q4_3) and 31..=33, 36..=38 (interleaved
/// layouts now repacked at load time) were removed from ggml and are unknown
/// here too.
const TABLE: &[(u32, &str, usize, usize)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    // ggml's block_q8_1 is two f16 + 32 int8 (36 bytes); it is an activation
    // format and not expected in files.
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    /// The type for a ggml type id, or `None` when the id is unknown.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block_len, block_bytes)| GgmlType {
                id,
                name,
                block_len,
                block_bytes,
            })
    }

    /// The ggml type of a minke format; `None` for minke-only formats
    /// (the interleaved ones), which GGUF cannot hold.
    pub fn from_dtype(d: DType) -> Option<GgmlType> {
        // Every DType id is in TABLE; a test checks it.
        GgmlType::from_id(d.ggml_type()?)
    }

    /// The id written in files.
    pub fn id(self) -> u32 {
        self.id
    }

    /// ggml's upper-case name (`Q4_K`, `BF16`).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        self.block_len
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.block_bytes
    }

    /// The minke format for this type, when minke supports it.
    pub fn dtype(self) -> Option<DType> {
        DType::from_ggml_type(self.id)
    }

    /// Bytes taken by a row of `n` elements, or `None` when `n` is not a
    /// whole number of blocks or the size overflows.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        if n % self.block_len != 0 {
            return None;
        }
        (n / self.block_len).checked_mul(self.block_bytes)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_matches_the_table() {
        for d in DType::ALL {
            let Some(t) = GgmlType::from_dtype(d) else {
                assert!(d.row_group() > 1, "{d} has no ggml type");
                continue;
            };
            assert_eq!(t.block_len(), d.block_len(), "{d}");
            assert_eq!(t.block_bytes(), d.block_bytes(), "{d}");
            assert!(t.name().eq_ignore_ascii_case(d.name()), "{d}");
            assert_eq!(t.dtype(), Some(d));
        }
    }

    #[test]
    fn ids_are_unique() {
        for (i, a) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|b| b.0 != a.0), "id {}", a.0);
        }
    }
}
