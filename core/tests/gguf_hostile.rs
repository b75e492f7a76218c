//! Hostile GGUF files: every malformation the reader checks gives an error
//! whose message names the file and what is wrong; every truncation of a
//! valid file is an error; random byte flips never panic.

use minke::file::gguf::{DType, GgufFile, GgufValue, GgufWriter};
use minke::Error;

/// A GGUF file built field by field, so that any field can be wrong.
#[derive(Clone)]
struct Raw(Vec<u8>);

impl Raw {
    /// Magic, version, tensor count, metadata count.
    fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        Raw(b"GGUF".to_vec()).u32(version).u64(n_tensors).u64(n_kv)
    }
    fn u8(mut self, x: u8) -> Raw {
        self.0.push(x);
        self
    }
    fn u32(mut self, x: u32) -> Raw {
        self.0.extend(x.to_le_bytes());
        self
    }
    fn u64(mut self, x: u64) -> Raw {
        self.0.extend(x.to_le_bytes());
        self
    }
    fn str(self, s: &[u8]) -> Raw {
        let mut r = self.u64(s.len() as u64);
        r.0.extend(s);
        r
    }
    /// A `u32` metadata entry.
    fn kv_u32(self, key: &str, v: u32) -> Raw {
        self.str(key.as_bytes()).u32(4).u32(v)
    }
    /// A tensor info.
    fn tensor(self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Raw {
        let mut r = self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            r = r.u64(d);
        }
        r.u32(ty).u64(offset)
    }
    /// Zero padding to `align`, then `n` data bytes.
    fn data(mut self, align: usize, n: usize) -> Raw {
        self.0.resize(self.0.len().next_multiple_of(align), 0);
        self.0.resize(self.0.len() + n, 0x55);
        self
    }
}

/// Parses `raw`, expects an error, returns its message.
fn err(raw: &Raw) -> String {
    match GgufFile::parse("bad.gguf", &raw.0) {
        Ok(_) => panic!("a malformed file parsed"),
        Err(e) => {
            let s = e.to_string();
            assert!(matches!(e, Error::Format { .. }), "{s}");
            assert!(s.starts_with("bad.gguf: "), "{s}");
            s
        }
    }
}

fn expect(raw: Raw, want: &str) {
    let s = err(&raw);
    assert!(s.contains(want), "{s:?} lacks {want:?}");
}

#[test]
fn well_formed_raw_file_parses() {
    // The base that the cases below break one field of.
    let raw = Raw::header(3, 1, 1)
        .kv_u32("k", 1)
        .tensor("t", &[32, 2], 2, 0)
        .data(32, 36);
    let f = GgufFile::parse("ok.gguf", &raw.0).unwrap();
    assert_eq!(f.tensor("t").unwrap().dtype, DType::Q4_0);
    let v2 = Raw::header(2, 0, 1).kv_u32("k", 1);
    assert_eq!(GgufFile::parse("v2.gguf", &v2.0).unwrap().version(), 2);
}

#[test]
fn bad_header() {
    expect(
        Raw(b"GGUX\x03\0\0\0".to_vec()),
        "not a GGUF file: bad magic",
    );
    expect(
        Raw(b"GG".to_vec()),
        "truncated: magic needs 4 bytes but only 2 remain",
    );
    expect(Raw(vec![]), "truncated");
    expect(
        Raw::header(1, 0, 0),
        "unsupported GGUF version 1, expected 2 or 3",
    );
    expect(Raw::header(4, 0, 0), "version 4");
    expect(Raw::header(3u32.swap_bytes(), 0, 0), "big-endian");
    expect(
        Raw(b"GGUF\x03\0\0\0\0\0".to_vec()),
        "tensor count needs 8 bytes",
    );
    expect(
        Raw::header(3, 0, u64::MAX),
        "metadata count 18446744073709551615 cannot fit",
    );
    expect(
        Raw::header(3, 1 << 40, 0),
        "tensor count 1099511627776 cannot fit",
    );
}

#[test]
fn bad_metadata() {
    let h = || Raw::header(3, 0, 1);
    expect(
        h().u64(1 << 40).u32(4).u32(0),
        "metadata entry #0, at byte 24: key length 1099511627776 runs past the end",
    );
    expect(
        h().u64(u64::MAX).u32(4).u32(0),
        "key length 18446744073709551615 runs past",
    );
    expect(h().str(b"\xffk").u32(4).u32(0), "key is not valid UTF-8");
    expect(
        h().str(b"k").u32(13).u32(0),
        "(\"k\"), at byte 37: unknown value type id 13",
    );
    expect(
        h().str(b"k").u32(u32::MAX).u32(0),
        "unknown value type id 4294967295",
    );
    expect(h().str(b"k").u32(7).u8(2), "bool value is 2, not 0 or 1");
    expect(
        h().str(b"k").u32(8).str(b"\xc3("),
        "string value is not valid UTF-8",
    );
    expect(
        h().str(b"k").u32(8).u64(9).u32(0),
        "string value length 9 runs past",
    );
    expect(
        h().str(b"k").u32(6).u8(0),
        "truncated: f32 value needs 4 bytes but only 1 remain",
    );
    let dup = Raw::header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2);
    expect(
        dup,
        "metadata entry #1 (\"k\"), at byte 41: duplicate metadata key",
    );
}

#[test]
fn bad_arrays() {
    let a = || Raw::header(3, 0, 1).str(b"arr").u32(9);
    expect(a().u32(14).u64(0), "unknown value type id 14");
    expect(
        a().u32(0).u64(u64::MAX),
        "array of 18446744073709551615 u8 elements cannot fit",
    );
    expect(
        a().u32(4).u64(1 << 40).u32(0),
        "array of 1099511627776 u32 elements cannot fit in the 4 bytes",
    );
    expect(
        a().u32(8).u64(1 << 61).u64(0),
        "array of 2305843009213693952 string elements",
    );
    expect(
        a().u32(9).u64(u64::MAX / 12 + 1),
        "array elements cannot fit",
    );
    expect(
        a().u32(8).u64(2).str(b"x").u64(5),
        "string element length 5 runs past",
    );
    expect(a().u32(7).u64(3).u8(1).u8(0).u8(9), "bool value is 9");
    // Arrays nested deeper than the cap (each level: type 9, count 1).
    let mut deep = Raw::header(3, 0, 1).str(b"deep").u32(9);
    for _ in 0..100 {
        deep = deep.u32(9).u64(1);
    }
    expect(deep.u32(0).u64(0), "arrays nested more than 8 deep");
}

#[test]
fn bad_alignment() {
    let al = |v: Raw| {
        Raw::header(3, 0, 1)
            .str(b"general.alignment")
            .0
            .into_iter()
            .chain(v.0)
            .collect::<Vec<u8>>()
    };
    for (value, want) in [
        (
            Raw(vec![]).u32(4).u32(33),
            "general.alignment is 33 (u32), expected a power of two",
        ),
        (Raw(vec![]).u32(4).u32(0), "is 0 (u32)"),
        (Raw(vec![]).u32(5).u32(-32i32 as u32), "is -32 (i32)"),
        (Raw(vec![]).u32(8).str(b"32"), "is \"32\" (string)"),
    ] {
        expect(Raw(al(value)), want);
    }
    // Another integer type holding a power of two is accepted.
    let ok = Raw(al(Raw(vec![]).u32(10).u64(64)));
    assert_eq!(GgufFile::parse("ok.gguf", &ok.0).unwrap().alignment(), 64);
}

#[test]
fn bad_tensor_infos() {
    let t = |dims: &[u64], ty: u32, off: u64| {
        Raw::header(3, 1, 0).tensor("w", dims, ty, off).data(32, 64)
    };
    expect(
        t(&[1; 5], 0, 0),
        "tensor info #0 (\"w\"), at byte 37: n_dims is 5, expected 1..=4",
    );
    expect(t(&[], 0, 0), "n_dims is 0");
    expect(t(&[4, 0], 0, 0), "dimension 1 is 0");
    expect(
        t(&[1 << 40, 1 << 40], 0, 0),
        "element count overflows at dimension 1",
    );
    expect(
        t(&[u64::MAX], 0, 0),
        "element count overflows at dimension 0",
    );
    expect(
        t(&[33], 2, 0),
        "row length 33 is not a multiple of Q4_0's block length 32",
    );
    expect(
        t(&[100], 12, 0),
        "row length 100 is not a multiple of Q4_K's block length 256",
    );
    expect(t(&[4], 99, 0), "unknown ggml tensor type id 99");
    expect(t(&[4], 4, 0), "unknown ggml tensor type id 4");
    expect(
        t(&[4], 0, 4),
        "data offset 4 is not a multiple of the alignment 32",
    );
    expect(t(&[4], 0, 64), "tensor \"w\": data at offset 64 (+64) of 16 bytes runs past the end of the file (128 bytes)");
    expect(t(&[17], 0, 0), "of 68 bytes runs past the end");
    expect(t(&[4], 0, u64::MAX - 31), "runs past the end");
    expect(
        t(&[1 << 62], 0, 0),
        "byte size of 4611686018427387904 F32 elements overflows",
    );
    let name = Raw::header(3, 1, 0).u64(u64::MAX - 3).data(32, 64);
    expect(name, "tensor name length 18446744073709551612 runs past");
    let dup = Raw::header(3, 2, 0)
        .tensor("w", &[4], 0, 0)
        .tensor("w", &[4], 0, 32)
        .data(32, 64);
    expect(
        dup,
        "tensor info #1 (\"w\"), at byte 57: duplicate tensor name",
    );
    let overlap = Raw::header(3, 2, 0)
        .tensor("a", &[16], 0, 0)
        .tensor("b", &[4], 0, 32)
        .data(32, 96);
    expect(
        overlap,
        "tensors \"a\" (bytes 96..160) and \"b\" (from byte 128) overlap",
    );
    let trunc = Raw::header(3, 1, 0).str(b"wxyz").u32(1).u64(4).u32(0);
    expect(
        trunc,
        "truncated: data offset needs 8 bytes but only 0 remain",
    );
}

#[test]
fn unsupported_type_opens_and_fails_on_use() {
    // IQ2_XXS (ggml type 16), which minke does not read: 256 elements
    // per 66-byte block.
    let raw = Raw::header(3, 2, 0)
        .tensor("blk.0.ffn_down.weight", &[256, 2], 16, 0)
        .tensor("ok", &[8], 0, 160)
        .data(32, 160 + 32);
    let f = GgufFile::parse("k.gguf", &raw.0).unwrap();
    assert_eq!(f.tensor("ok").unwrap().dtype, DType::F32);
    let info = f.tensor_info("blk.0.ffn_down.weight").unwrap();
    assert_eq!((info.ggml_type.name(), info.data.len()), ("IQ2_XXS", 132));
    for e in [
        f.tensor("blk.0.ffn_down.weight").unwrap_err(),
        f.get_tensor("blk.0.ffn_down.weight").unwrap_err(),
    ] {
        let s = e.to_string();
        assert!(matches!(e, Error::Unsupported(_)), "{s}");
        assert!(
            s.contains("tensor type IQ2_XXS in tensor 'blk.0.ffn_down.weight' of k.gguf"),
            "{s}"
        );
    }
}

/// A small valid file with metadata of several kinds and three tensors.
fn sample() -> Vec<u8> {
    let q = vec![3u8; 34 * 2];
    let f = vec![1u8; 4 * 3];
    let h = vec![2u8; 2 * 5];
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama")
        .add_metadata("n", 7u32)
        .add_metadata("toks", vec!["a", "bc"])
        .add_metadata(
            "nest",
            vec![
                minke::file::gguf::GgufArray::I8(vec![-1]),
                minke::file::gguf::GgufArray::Bool(vec![true]),
            ],
        )
        .add_metadata("b", true)
        .add_metadata("x", GgufValue::F64(0.5));
    w.add_tensor("q", &[32, 2], DType::Q8_0, &q).unwrap();
    w.add_tensor("f", &[3], DType::F32, &f).unwrap();
    w.add_tensor("h", &[5], DType::F16, &h).unwrap();
    w.to_bytes().unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample();
    let f = GgufFile::parse("full.gguf", &bytes).unwrap();
    // The writer pads after the last tensor; cutting only padding is fine.
    let end = f
        .tensor_infos()
        .iter()
        .map(|t| t.offset + t.data.len())
        .max()
        .unwrap();
    assert!(end < bytes.len());
    for n in 0..bytes.len() {
        let r = GgufFile::parse("cut.gguf", &bytes[..n]);
        if n < end {
            let e = r.expect_err("a truncated file parsed").to_string();
            assert!(e.starts_with("cut.gguf: "), "{e}");
            assert!(
                e.contains("truncated")
                    || e.contains("runs past the end")
                    || e.contains("cannot fit"),
                "prefix {n}: {e}"
            );
        } else {
            assert!(r.is_ok(), "prefix {n}");
        }
    }
}

/// Uses everything a parsed file offers, so that a bad value reached after
/// parsing would panic here.
fn exercise(f: &GgufFile<'_>) {
    for (k, v) in f.metadata() {
        let _ = v.to_string();
        let _ = (
            f.get_u32(k),
            f.get_i64(k),
            f.get_f32(k),
            f.get_bool(k),
            f.get_str(k),
        );
        let _ = (
            f.get_str_array(k),
            f.get_i32_array(k),
            f.get_u32_array(k),
            f.get_f32_array(k),
        );
    }
    for t in f.tensor_infos() {
        if let Ok(view) = f.tensor(t.name) {
            assert_eq!(view.data.len(), t.data.len());
        }
    }
}

/// Flips, overwrites and truncates bytes of `base` `rounds` times; returns
/// how many results parsed and how many were errors.
fn flip_bytes(base: &[u8], rounds: usize, seed: u64) -> (usize, usize) {
    let header_end = GgufFile::parse("s.gguf", base).unwrap().data_offset();
    // xorshift64*: deterministic, no dependency.
    let mut s = seed;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let (mut ok, mut bad) = (0, 0);
    for round in 0..rounds {
        let mut b = base.to_vec();
        for _ in 0..1 + next() % 4 {
            // Mostly in the header, where the structure is.
            let i = (next() as usize) % if round % 4 == 0 { b.len() } else { header_end };
            let r = next();
            b[i] = match r % 4 {
                0 => b[i] ^ (1 << ((r >> 8) % 8)),
                1 => 0xff,
                2 => 0,
                _ => (r >> 16) as u8,
            };
        }
        if round % 8 == 0 {
            let cut = (next() as usize) % b.len();
            b.truncate(cut);
        }
        match GgufFile::parse("flip.gguf", &b) {
            Ok(f) => {
                exercise(&f);
                ok += 1;
            }
            Err(e) => {
                assert!(e.to_string().starts_with("flip.gguf: "), "{e}");
                bad += 1;
            }
        }
    }
    (ok, bad)
}

/// `MINKE_FUZZ_ROUNDS` raises the rounds per base file (default 20,000).
#[test]
fn random_byte_flips_never_panic() {
    let rounds = std::env::var("MINKE_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/gguf/pygguf_small.gguf");
    let bases = [sample(), std::fs::read(fixture).unwrap()];
    for (i, base) in bases.iter().enumerate() {
        let (ok, bad) = flip_bytes(base, rounds, 0x9E37_79B9_7F4A_7C15 + i as u64);
        eprintln!("base {i}: {ok} parsed, {bad} refused");
        // Both outcomes must occur, or the test is not testing much.
        assert!(ok > rounds / 20 && bad > rounds / 20, "ok {ok} bad {bad}");
    }
}
