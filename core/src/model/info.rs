//! What a model holds, for callers that show or check it: its parameter
//! count, the number formats its tensors use, a one-line description in
//! the style of llama.cpp's `llama_model_desc` (`"llama 135M Q4_1"`) and
//! the file's metadata as text.

use crate::config::Arch;
use crate::tensor::TensorStore;
use minke_quant::DType;
use std::collections::HashSet;

/// How much of a model one number format holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeUse {
    pub dtype: DType,
    /// Tensors in the format (a GGUF file's stacked experts count once
    /// per expert, as minke views them).
    pub tensors: usize,
    /// Their elements: the parameters stored in the format.
    pub params: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The formats of `store`'s tensors, most parameters first (ties by
/// name). A tensor reached under two names counts once.
pub(crate) fn type_uses(store: &TensorStore) -> Vec<TypeUse> {
    let mut seen = HashSet::new();
    let mut uses: Vec<TypeUse> = Vec::new();
    for t in store.names().iter().filter_map(|n| store.get(n)) {
        if !seen.insert(t.key()) {
            continue;
        }
        let i = match uses.iter().position(|u| u.dtype == t.dtype) {
            Some(i) => i,
            None => {
                uses.push(TypeUse {
                    dtype: t.dtype,
                    tensors: 0,
                    params: 0,
                    bytes: 0,
                });
                uses.len() - 1
            }
        };
        let u = &mut uses[i];
        u.tensors += 1;
        u.params += t.numel() as u64;
        u.bytes += t.byte_len() as u64;
    }
    uses.sort_by(|a, b| {
        b.params
            .cmp(&a.params)
            .then_with(|| a.dtype.name().cmp(b.dtype.name()))
    });
    uses
}

/// The architecture as llama.cpp's model descriptions name it.
fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::Llama => "llama",
        Arch::Qwen2 => "qwen2",
        Arch::DeepseekV2 => "deepseek2",
        Arch::DeepseekV3 => "deepseek3",
    }
}

/// A parameter count the way model names give it: `135M`, `1.5B`, `671B`
/// (and `74K` for the tiny models of tests).
pub(crate) fn size_label(params: u64) -> String {
    let p = params as f64;
    if p < 1e6 {
        format!("{:.0}K", p / 1e3)
    } else if p < 1e9 {
        format!("{:.0}M", p / 1e6)
    } else if p < 1e10 {
        format!("{:.1}B", p / 1e9)
    } else {
        format!("{:.0}B", p / 1e9)
    }
}

/// A format's name as model descriptions write it: `Q4_1`, `F16`,
/// `Q4_0x16`.
fn type_label(d: DType) -> String {
    d.name().to_uppercase().replace("X16", "x16")
}

/// `"llama 135M Q4_1"`: architecture, size and the format that holds
/// most parameters (`uses[0]`, as [`type_uses`] orders them).
pub(crate) fn description(arch: Arch, params: u64, uses: &[TypeUse]) -> String {
    let main = uses
        .first()
        .map_or("none".to_string(), |u| type_label(u.dtype));
    format!("{} {} {main}", arch_name(arch), size_label(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_types_read_like_model_names() {
        assert_eq!(size_label(134_515_008), "135M");
        assert_eq!(size_label(1_543_714_304), "1.5B");
        assert_eq!(size_label(671_026_419_200), "671B");
        assert_eq!(type_label(DType::Q4_1), "Q4_1");
        assert_eq!(type_label(DType::Q4_0x16), "Q4_0x16");
        let uses = [TypeUse {
            dtype: DType::Q8_0,
            tensors: 3,
            params: 7_000_000_000,
            bytes: 0,
        }];
        assert_eq!(
            description(Arch::DeepseekV2, 15_700_000_000, &uses),
            "deepseek2 16B Q8_0"
        );
        assert_eq!(description(Arch::Llama, 74_304, &[]), "llama 74K none");
    }
}
