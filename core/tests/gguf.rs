//! GGUF reader and writer: round trips through [`GgufWriter`] for every value
//! type and tensor format, typed getters, the fixture written by the `gguf`
//! Python package (scripts/gen_gguf_fixtures.py), and the real model when it
//! has been fetched. Hostile files are in `gguf_hostile.rs`.

use std::path::PathBuf;

use minke::file::gguf::{
    DType, GgmlType, GgufArray, GgufFile, GgufValue, GgufValueType, GgufWriter,
};
use minke::Error;

#[path = "support/real_model.rs"]
mod real_model;
use real_model::{model_path, skipped};

/// `n` bytes 0, 7, 14, ... (mod 256), as the fixture script writes them.
fn ramp(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

/// One value of every type, arrays of every element type, nested and empty
/// arrays, and extremes.
fn every_value() -> Vec<(&'static str, GgufValue)> {
    vec![
        ("u8", GgufValue::U8(u8::MAX)),
        ("i8", GgufValue::I8(i8::MIN)),
        ("u16", GgufValue::U16(u16::MAX)),
        ("i16", GgufValue::I16(i16::MIN)),
        ("u32", GgufValue::U32(u32::MAX)),
        ("i32", GgufValue::I32(i32::MIN)),
        ("u64", GgufValue::U64(u64::MAX)),
        ("i64", GgufValue::I64(i64::MIN)),
        ("f32", GgufValue::F32(-1.25e-3)),
        ("f32.inf", GgufValue::F32(f32::INFINITY)),
        ("f64", GgufValue::F64(std::f64::consts::PI)),
        ("bool.t", GgufValue::Bool(true)),
        ("bool.f", GgufValue::Bool(false)),
        ("str", "héllo ∑ \n\0 end".into()),
        ("str.empty", "".into()),
        ("a.u8", vec![0u8, 1, 255].into()),
        ("a.i8", vec![-128i8, 0, 127].into()),
        ("a.u16", vec![1u16, 65535].into()),
        ("a.i16", vec![-32768i16, 5].into()),
        ("a.u32", vec![7u32, u32::MAX].into()),
        ("a.i32", vec![-1i32, 2, -3].into()),
        ("a.u64", vec![u64::MAX].into()),
        ("a.i64", vec![i64::MIN, i64::MAX].into()),
        ("a.f32", vec![0.5f32, -0.0, 3e38].into()),
        ("a.f64", vec![1e-300f64].into()),
        ("a.bool", vec![true, false, true].into()),
        ("a.str", vec!["a", "", "Ġb", "<|im_end|>"].into()),
        ("a.empty", GgufValue::Array(GgufArray::U32(vec![])).clone()),
        ("a.empty_str", GgufValue::Array(GgufArray::String(vec![]))),
        (
            "a.nested",
            vec![
                GgufArray::U8(vec![1, 2]),
                GgufArray::String(vec!["x".into()]),
                GgufArray::Array(vec![GgufArray::F64(vec![]), GgufArray::I64(vec![-9])]),
            ]
            .into(),
        ),
    ]
}

fn write(meta: &[(&str, GgufValue)], tensors: &[(&str, Vec<usize>, DType, Vec<u8>)]) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.add_metadata(k, v.clone());
    }
    for (name, shape, dtype, data) in tensors {
        w.add_tensor(name, shape, *dtype, data).unwrap();
    }
    w.to_bytes().unwrap()
}

/// One small tensor in every format GGUF holds (not minke's interleaved
/// ones, which the writer refuses: see `writer_refuses_minke_only_formats`).
fn every_tensor() -> Vec<(&'static str, Vec<usize>, DType, Vec<u8>)> {
    DType::ALL
        .iter()
        .filter(|d| d.ggml_type().is_some())
        .enumerate()
        .map(|(i, &d)| {
            let shape = vec![d.block_len() * (i + 1), 3];
            let n = d.row_bytes(shape[0]).unwrap() * shape[1];
            let data: Vec<u8> = (0..n).map(|j| (j * 31 + i) as u8).collect();
            (d.name(), shape, d, data)
        })
        .collect()
}

#[test]
fn round_trip_every_value_type() {
    let meta = every_value();
    let bytes = write(&meta, &[]);
    let f = GgufFile::parse("rt.gguf", &bytes).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    let got: Vec<_> = f
        .metadata()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(got.len(), meta.len());
    for ((k, v), (gk, gv)) in meta.iter().zip(&got) {
        assert_eq!(k, gk, "metadata order");
        assert_eq!(v, gv, "{k}");
    }
    assert!(f.tensor_infos().is_empty());
}

#[test]
fn round_trip_every_tensor_format_zero_copy() {
    let tensors = every_tensor();
    let bytes = write(&[("general.architecture", "llama".into())], &tensors);
    let f = GgufFile::parse("rt.gguf", &bytes).unwrap();
    assert_eq!(f.data_offset() % 32, 0);
    let range = bytes.as_ptr_range();
    for (name, shape, dtype, data) in &tensors {
        let t = f.tensor(name).unwrap();
        assert_eq!(t.name, *name);
        assert_eq!(&t.shape, shape);
        assert_eq!(t.dtype, *dtype);
        assert_eq!(t.data, &data[..]);
        // A view into the file, not a copy, and aligned.
        assert!(range.contains(&t.data.as_ptr()));
        let info = f.tensor_info(name).unwrap();
        assert_eq!(info.offset % 32, 0);
        assert_eq!(
            info.offset,
            t.data.as_ptr() as usize - bytes.as_ptr() as usize
        );
        assert_eq!(info.n_elements(), shape.iter().product::<usize>());
    }
    assert!(f.get_tensor("missing").unwrap().is_none());
    let e = f.tensor("missing").unwrap_err().to_string();
    assert!(
        e.contains("rt.gguf") && e.contains("\"missing\" not found"),
        "{e}"
    );
}

#[test]
fn custom_alignment_round_trip() {
    let mut w = GgufWriter::new();
    w.set_alignment(128).unwrap();
    let a = vec![1u8; 34];
    let b = vec![2u8; 4 * 5];
    w.add_tensor("a", &[32], DType::Q8_0, &a).unwrap();
    w.add_tensor("b", &[5], DType::F32, &b).unwrap();
    let bytes = w.to_bytes().unwrap();
    let f = GgufFile::parse("al.gguf", &bytes).unwrap();
    assert_eq!(f.alignment(), 128);
    assert_eq!(f.get_u32("general.alignment").unwrap(), Some(128));
    assert_eq!(f.data_offset() % 128, 0);
    for t in f.tensor_infos() {
        assert_eq!(t.offset % 128, 0, "{}", t.name);
    }
    assert_eq!(f.tensor("b").unwrap().data, &b[..]);
    assert!(w.set_alignment(48).is_err());
    assert!(w.set_alignment(0).is_err());
}

#[test]
fn typed_getters_convert_and_name_the_key() {
    let bytes = write(&every_value(), &[]);
    let f = GgufFile::parse("g.gguf", &bytes).unwrap();
    // Any integer type that fits.
    assert_eq!(f.get_u32("u8").unwrap(), Some(255));
    assert_eq!(f.get_u32("u32").unwrap(), Some(u32::MAX));
    assert_eq!(f.get_i32("i8").unwrap(), Some(-128));
    assert_eq!(f.get_i64("i64").unwrap(), Some(i64::MIN));
    assert_eq!(f.get_u64("u64").unwrap(), Some(u64::MAX));
    assert_eq!(f.get_usize("u16").unwrap(), Some(65535));
    assert_eq!(f.get_f32("f32").unwrap(), Some(-1.25e-3));
    assert_eq!(f.get_f64("f64").unwrap(), Some(std::f64::consts::PI));
    assert_eq!(f.get_f32("u8").unwrap(), Some(255.0));
    assert_eq!(f.get_bool("bool.t").unwrap(), Some(true));
    assert_eq!(f.get_str("str").unwrap(), Some("héllo ∑ \n\0 end"));
    assert_eq!(f.get_str_array("a.str").unwrap().unwrap()[2], "Ġb");
    assert_eq!(f.get_i32_array("a.i8").unwrap(), Some(vec![-128, 0, 127]));
    assert_eq!(f.get_u32_array("a.u16").unwrap(), Some(vec![1, 65535]));
    assert_eq!(
        f.get_f32_array("a.f64").unwrap(),
        Some(vec![1e-300f64 as f32])
    );
    assert_eq!(f.get_array("a.nested").unwrap().unwrap().len(), 3);
    // Absent keys are None, for every getter.
    assert_eq!(f.get_u32("nope").unwrap(), None);
    assert_eq!(f.get_str("nope").unwrap(), None);
    assert_eq!(f.get_str_array("nope").unwrap(), None);
    assert_eq!(f.get_i32_array("nope").unwrap(), None);
    assert!(f.get("nope").is_none());
    assert_eq!(f.architecture().unwrap(), None);
    // Wrong types and out-of-range values name key, found type and wanted type.
    let cases: Vec<(Error, &str)> = vec![
        (
            f.get_u32("i8").unwrap_err(),
            "\"i8\" is i8 -128, expected an integer in u32 range",
        ),
        (f.get_u32("u64").unwrap_err(), "\"u64\" is u64"),
        (f.get_i32("u32").unwrap_err(), "i32 range"),
        (f.get_u32("str").unwrap_err(), "\"str\" is string"),
        (f.get_str("u8").unwrap_err(), "expected a string"),
        (f.get_bool("u8").unwrap_err(), "expected a bool"),
        (f.get_f32("str").unwrap_err(), "expected a number"),
        (
            f.get_str_array("a.u8").unwrap_err(),
            "array<u8> [u8; 3], expected an array of strings",
        ),
        (
            f.get_i32_array("a.str").unwrap_err(),
            "\"a.str\" is array<string>",
        ),
        (
            f.get_i32_array("a.u32").unwrap_err(),
            "element 1 does not fit",
        ),
        (
            f.get_u32_array("a.i32").unwrap_err(),
            "element 0 does not fit",
        ),
        (
            f.get_f32_array("a.i32").unwrap_err(),
            "expected an array of floats",
        ),
    ];
    for (e, want) in cases {
        let s = e.to_string();
        assert!(matches!(e, Error::Format { .. }), "{s}");
        assert!(
            s.starts_with("g.gguf: ") && s.contains(want),
            "{s:?} lacks {want:?}"
        );
    }
}

#[test]
fn value_types_and_display() {
    assert_eq!(GgufValueType::from_id(12), Some(GgufValueType::F64));
    assert_eq!(GgufValueType::from_id(13), None);
    for id in 0..13 {
        assert_eq!(GgufValueType::from_id(id).unwrap().id(), id);
    }
    assert_eq!(GgufValue::from(vec!["a", "b"]).to_string(), "[string; 2]");
    assert_eq!(GgufValue::from("x").to_string(), "\"x\"");
    assert_eq!(GgufValue::U32(7).to_string(), "7");
    assert_eq!(
        GgufValue::from(vec![GgufArray::U8(vec![])]).type_name(),
        "array<array>"
    );
}

#[test]
fn writer_refuses_inconsistent_tensors() {
    let data = vec![0u8; 18];
    let group = vec![0u8; 288];
    let mut w = GgufWriter::new();
    w.add_tensor("t", &[32], DType::Q4_0, &data).unwrap();
    let errs = [
        w.add_tensor("t", &[32], DType::Q4_0, &data).unwrap_err(),
        w.add_tensor("u", &[32], DType::Q8_0, &data).unwrap_err(),
        w.add_tensor("u", &[16], DType::Q4_0, &data).unwrap_err(),
        w.add_tensor("u", &[], DType::F32, &data).unwrap_err(),
        w.add_tensor("u", &[1, 1, 1, 1, 1], DType::F32, &data)
            .unwrap_err(),
        w.add_tensor("u", &[0, 32], DType::Q4_0, &data).unwrap_err(),
        w.add_tensor("u", &[usize::MAX, 2], DType::F32, &data)
            .unwrap_err(),
        w.add_tensor("u", &[32, 16], DType::Q4_0x16, &group)
            .unwrap_err(),
    ];
    let want = [
        "added twice",
        "needs 34 bytes, got 18",
        "multiple of 32",
        "non-zero dims",
        "non-zero dims",
        "non-zero dims",
        "does not fit",
        "minke-only format",
    ];
    for (e, want) in errs.iter().zip(want) {
        let s = e.to_string();
        assert!(
            matches!(e, Error::InvalidArgument(_)) && s.contains(want),
            "{s}"
        );
        assert!(
            s.contains("tensor \"t\"") || s.contains("tensor \"u\""),
            "{s}"
        );
    }
    w.add_metadata("general.alignment", GgufValue::U32(24));
    assert!(w
        .to_bytes()
        .unwrap_err()
        .to_string()
        .contains("power of two"));
}

#[test]
fn writer_file_and_key_replacement() {
    let dir = std::env::temp_dir().join(format!("minke-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.gguf");
    let mut w = GgufWriter::new();
    w.add_metadata("a", 1u32)
        .add_metadata("b", 2u32)
        .add_metadata("a", "one");
    w.write_file(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, w.to_bytes().unwrap());
    let f = GgufFile::parse("w.gguf", &bytes).unwrap();
    let keys: Vec<_> = f.metadata().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(f.get_str("a").unwrap(), Some("one"));
    std::fs::remove_dir_all(&dir).unwrap();
    let e = w.write_file(dir.join("no/such/dir.gguf")).unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && e.to_string().contains("dir.gguf"),
        "{e}"
    );
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/gguf")
        .join(name)
}

/// The file the `gguf` Python package wrote (see scripts/gen_gguf_fixtures.py).
#[test]
fn reads_the_python_gguf_fixture() {
    let bytes = std::fs::read(fixture("pygguf_small.gguf")).unwrap();
    let f = GgufFile::parse("pygguf_small.gguf", &bytes).unwrap();
    assert_eq!((f.version(), f.alignment(), f.data_offset()), (3, 64, 1024));
    assert_eq!(f.architecture().unwrap(), Some("llama"));
    let expect: Vec<(&str, GgufValue)> = vec![
        ("t.u8", GgufValue::U8(200)),
        ("t.i8", GgufValue::I8(-100)),
        ("t.u16", GgufValue::U16(60000)),
        ("t.i16", GgufValue::I16(-30000)),
        ("t.u32", GgufValue::U32(4_000_000_000)),
        ("t.i32", GgufValue::I32(-2_000_000_000)),
        ("t.u64", GgufValue::U64((1 << 63) + 5)),
        ("t.i64", GgufValue::I64(-(1 << 62))),
        ("t.f32", GgufValue::F32(1.5)),
        ("t.f64", GgufValue::F64(-0.125)),
        ("t.bool", GgufValue::Bool(true)),
        ("t.str", "héllo ∑".into()),
        ("t.arr_str", vec!["a", "", "Ġb"].into()),
        ("t.arr_i32", vec![1i32, -2, 3].into()),
        ("t.arr_f32", vec![0.5f32, -1.0].into()),
        ("t.arr_u8", vec![1u8, 2, 255].into()),
        ("t.arr_bool", vec![true, false].into()),
        (
            "t.arr_nested",
            vec![GgufArray::I32(vec![1, 2]), GgufArray::I32(vec![3])].into(),
        ),
    ];
    let keys: Vec<_> = f.metadata().map(|(k, _)| k).collect();
    assert_eq!(keys[..2], ["general.architecture", "general.alignment"]);
    assert_eq!(keys.len(), 2 + expect.len());
    for (k, v) in &expect {
        assert_eq!(f.get(k), Some(v), "{k}");
    }
    // (name, GGUF shape, type, bytes, absolute offset)
    let tensors: [(&str, &[usize], &str, usize, usize); 7] = [
        ("f32", &[3, 2], "F32", 24, 1024),
        ("f16", &[4], "F16", 8, 1088),
        ("q8_0", &[32, 2], "Q8_0", 68, 1152),
        ("q4_0", &[64, 1], "Q4_0", 36, 1280),
        ("q4_1", &[32, 1, 1], "Q4_1", 20, 1344),
        ("bf16", &[4, 1], "BF16", 8, 1408),
        ("q6_k", &[256, 1], "Q6_K", 210, 1472),
    ];
    assert_eq!(f.tensor_infos().len(), tensors.len());
    for ((name, shape, ty, n, off), info) in tensors.iter().zip(f.tensor_infos()) {
        assert_eq!(info.name, *name);
        assert_eq!(&info.shape[..], *shape, "{name}");
        assert_eq!(info.ggml_type.name(), *ty, "{name}");
        assert_eq!((info.data.len(), info.offset), (*n, *off), "{name}");
    }
    let t = f.tensor("f32").unwrap();
    let vals: Vec<f32> = t
        .data
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(vals, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let f16 = f.tensor("f16").unwrap();
    assert_eq!(f16.data, [0x00, 0x38, 0x00, 0xc0, 0xff, 0x7b, 0x00, 0x00]);
    for (name, n) in [("q8_0", 68), ("q4_0", 36), ("q4_1", 20), ("bf16", 8)] {
        assert_eq!(f.tensor(name).unwrap().data, &ramp(n)[..], "{name}");
    }
    // The K-quant tensor is read as the others are.
    let t = f.tensor("q6_k").unwrap();
    assert_eq!((t.dtype, t.data), (DType::Q6_K, &ramp(210)[..]));
}

/// minke's writer, given what the Python writer was given, writes the same
/// bytes: both follow the same layout rules.
#[test]
fn writer_matches_the_python_gguf_writer() {
    let want = std::fs::read(fixture("pygguf_small.gguf")).unwrap();
    let f = GgufFile::parse("pygguf_small.gguf", &want).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in f.metadata() {
        w.add_metadata(k, v.clone());
    }
    for t in f.tensor_infos() {
        w.add_tensor_ggml(t.name, &t.shape, t.ggml_type, t.data)
            .unwrap();
    }
    assert_eq!(w.to_bytes().unwrap(), want);
}

#[test]
fn ggml_type_table() {
    let q6k = GgmlType::from_id(14).unwrap();
    assert_eq!(
        (q6k.name(), q6k.block_len(), q6k.block_bytes()),
        ("Q6_K", 256, 210)
    );
    assert_eq!(q6k.dtype(), Some(DType::Q6_K));
    let iq2 = GgmlType::from_id(16).unwrap();
    assert_eq!((iq2.name(), iq2.dtype()), ("IQ2_XXS", None));
    assert_eq!(GgmlType::from_id(2).unwrap().dtype(), Some(DType::Q4_0));
    assert!(GgmlType::from_id(4).is_none());
    assert_eq!(q6k.row_bytes(512), Some(420));
    assert_eq!(q6k.row_bytes(100), None);
}

/// The end-to-end model (see `support/real_model.rs`: skipped, loudly,
/// when it is missing, a failure with `MINKE_REQUIRE_MODEL=1`).
#[test]
fn real_model_if_present() {
    let Some(path) = model_path() else { return };
    if path.extension() != Some("gguf".as_ref()) {
        skipped(&format!("{} is not a GGUF file", path.display()));
        return;
    }
    let bytes = std::fs::read(&path).unwrap();
    let f = GgufFile::parse(&path.display().to_string(), &bytes).unwrap();
    assert_eq!(f.architecture().unwrap(), Some("llama"));
    let n_layers = f.get_usize("llama.block_count").unwrap().unwrap();
    assert!(n_layers > 0);
    // Every tensor of every layer is present and of a type minke computes with.
    for t in f.tensor_infos() {
        f.tensor(t.name).unwrap();
    }
    f.tensor("token_embd.weight").unwrap();
    f.tensor(&format!("blk.{}.attn_q.weight", n_layers - 1))
        .unwrap();
    let vocab = f.get_str_array("tokenizer.ggml.tokens").unwrap().unwrap();
    let types = f
        .get_i32_array("tokenizer.ggml.token_type")
        .unwrap()
        .unwrap();
    assert_eq!(vocab.len(), types.len());
}
