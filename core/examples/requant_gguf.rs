//! Re-quantizes a GGUF file into another block format, for the peer
//! comparison (`benches/peers/`): the same model in Q4_0, Q4_1 and Q8_0,
//! so minke, llama.cpp and candle can be timed on each.
//!
//! Metadata is copied as is. Every 2-D tensor in a quantized format is
//! dequantized row by row and quantized again into `TYPE`, except the
//! token embedding and the output head, which keep their format (GGUF
//! quantizers keep those at higher precision too). Other tensors (norms,
//! biases) are copied byte for byte.
//!
//! ```sh
//! cargo run --release -p minke --example requant_gguf -- IN.gguf OUT.gguf q4_0|q4_1|q8_0
//! ```

use minke::file::gguf::{GgufFile, GgufWriter};
use minke::quant::formats::{dequantize_row, quantize_row};
use minke::quant::DType;
use std::process::ExitCode;

/// Tensors that keep their format.
const KEEP: [&str; 2] = ["token_embd.weight", "output.weight"];

fn run(args: &[String]) -> Result<(), String> {
    let [input, output, ty] = args else {
        return Err("usage: requant_gguf IN.gguf OUT.gguf q4_0|q4_1|q8_0".into());
    };
    let target = DType::parse(ty)
        .filter(|d| d.is_quantized())
        .ok_or_else(|| format!("{ty}: not a quantized format (q4_0, q4_1, q8_0)"))?;
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let g = GgufFile::parse(input, &bytes).map_err(|e| e.to_string())?;

    // First pass: the new bytes of every re-quantized tensor, `(rows * row_bytes)`.
    let mut converted: Vec<Option<Vec<u8>>> = Vec::with_capacity(g.tensor_infos().len());
    for info in g.tensor_infos() {
        let dtype = info.ggml_type.dtype();
        let convert = info.shape.len() == 2
            && !KEEP.contains(&info.name)
            && dtype.is_some_and(|d| d.is_quantized() && d != target);
        if !convert {
            converted.push(None);
            continue;
        }
        let t = info.to_tensor(input).map_err(|e| e.to_string())?;
        let (k, rows) = (t.shape[0], t.shape[1]);
        let (src_rb, dst_rb) = (
            t.dtype.row_bytes(k).ok_or("bad source row")?,
            target
                .row_bytes(k)
                .ok_or_else(|| format!("{}: row of {k} does not fit {target}", info.name))?,
        );
        let mut row = vec![0f32; k];
        let mut out = vec![0u8; rows * dst_rb];
        for (src, dst) in t
            .data
            .chunks_exact(src_rb)
            .zip(out.chunks_exact_mut(dst_rb))
        {
            dequantize_row(t.dtype, src, &mut row);
            quantize_row(target, &row, dst);
        }
        converted.push(Some(out));
    }

    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        w.add_metadata(k, v.clone());
    }
    for (info, new) in g.tensor_infos().iter().zip(&converted) {
        match new {
            Some(data) => w.add_tensor(info.name, &info.shape, target, data),
            None => w.add_tensor_ggml(info.name, &info.shape, info.ggml_type, info.data),
        }
        .map_err(|e| e.to_string())?;
    }
    w.write_file(output).map_err(|e| e.to_string())?;
    let n = converted.iter().filter(|c| c.is_some()).count();
    eprintln!("requant_gguf: {output}: {n} tensors now {target}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("requant_gguf: {e}");
            ExitCode::FAILURE
        }
    }
}
