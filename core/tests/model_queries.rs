//! What the API tells about a model and a machine, and what it lets a
//! caller change or stop: load progress and its cancelling, metadata,
//! description, parameter and format counts, the log, and a session's
//! thread count changed while it runs (issue 20). On the tiny random
//! models of `tests/fixtures`, which are always here, and on the real
//! model when it is.

mod common;
#[path = "support/real_model.rs"]
mod real_model;

use common::*;
use minke::log::Level;
use minke::quant::DType;
use minke::{ChatMessage, Error, Load, Model, Session};
use std::sync::{Arc, Mutex};

const TOKENS: [u32; 20] = [
    1, 5, 9, 33, 2, 95, 0, 7, 7, 7, 40, 41, 42, 60, 12, 3, 88, 1, 54, 20,
];

/// The log sink is one per process: tests that set it take turns.
static LOG: Mutex<()> = Mutex::new(());

/// The fractions a load reports, and what it returned.
fn load_fractions(path: &std::path::Path, load: Load) -> (Vec<f32>, minke::Result<Model>) {
    let mut seen = Vec::new();
    let m = Model::open_with_progress(path, load, |x| {
        seen.push(x);
        true
    });
    (seen, m)
}

fn assert_progress_shape(seen: &[f32], what: &str) {
    assert!(seen.len() >= 3, "{what}: {seen:?}");
    assert_eq!(seen[0], 0.0, "{what}");
    assert_eq!(*seen.last().unwrap(), 1.0, "{what}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{what}: {seen:?}");
}

#[test]
fn loads_report_progress_and_stop_when_asked() {
    let dir = TempDir::new("progress");
    let f32_path = dir.path("m.minke");
    write_random(&f32_path, &tiny_config(), 4);
    // A file, a checkpoint folder and (when here) a GGUF file, mapped and
    // read: the same model as without progress.
    let mut paths = vec![f32_path.clone(), fixture("llama_gqa")];
    paths.extend(real_model::model_path());
    for path in &paths {
        for load in [Load::Map, Load::Read] {
            let what = format!("{} {load:?}", path.display());
            let (seen, m) = load_fractions(path, load);
            let m = m.unwrap();
            assert_progress_shape(&seen, &what);
            // Every tensor is a step.
            assert!(seen.len() > m.tensors().len(), "{what}: {}", seen.len());
            let plain = Model::open_with(path, load).unwrap();
            assert_eq!(
                all_logits(&m, params(1, 8), &TOKENS[..4]),
                all_logits(&plain, params(1, 8), &TOKENS[..4]),
                "{what}"
            );
            // Stopped at each of the first steps, and halfway: an error
            // naming the file, and no model.
            let n = seen.len();
            for stop_at in [0, 1, 2, n / 2, n - 1] {
                let mut calls = 0;
                let r = Model::open_with_progress(path, load, |_| {
                    calls += 1;
                    calls <= stop_at
                });
                match r {
                    Err(Error::Aborted(msg)) => {
                        assert!(msg.contains(&path.display().to_string()), "{msg}")
                    }
                    Err(e) => panic!("{what}: stopped at {stop_at}: {e}"),
                    Ok(_) => panic!("{what}: stopped at {stop_at}, still loaded"),
                }
                assert_eq!(calls, stop_at + 1, "{what}: called after it said stop");
            }
        }
    }
}

#[test]
fn a_read_reports_its_bytes() {
    // Larger than one 16 MiB read: several steps while reading.
    let Some(path) = real_model::model_path() else {
        return;
    };
    let (mapped, _) = load_fractions(&path, Load::Map);
    let (read, _) = load_fractions(&path, Load::Read);
    let size = std::fs::metadata(&path).unwrap().len();
    let reads = read.iter().filter(|&&x| x > 0.0 && x < 0.72).count();
    assert!(reads as u64 >= size >> 24, "{reads} steps for {size} bytes");
    // A map reads nothing: it goes straight to the tensors.
    assert!(
        mapped.len() < read.len(),
        "{} vs {}",
        mapped.len(),
        read.len()
    );
}

#[test]
fn descriptions_counts_and_formats() {
    let dir = TempDir::new("describe");
    let f32_path = dir.path("m.minke");
    let c = tiny_config();
    write_random(&f32_path, &c, 5);
    let q_path = dir.path("q.minke");
    minke::quantize::quantize(&f32_path, &q_path, DType::Q4_0, |_, _| {}).unwrap();

    let f = Model::open(&f32_path).unwrap();
    let want: u64 = tensor_shapes(&c)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() as u64)
        .sum();
    assert_eq!(f.n_params(), want);
    let types = f.tensor_types();
    assert_eq!(types.len(), 1);
    assert_eq!(
        (types[0].dtype, types[0].tensors, types[0].params),
        (DType::F32, f.tensors().len(), want)
    );
    assert_eq!(types[0].bytes, 4 * want);
    let k = (want as f64 / 1e3).round();
    assert_eq!(f.description(), format!("llama {k}K F32"));

    // Quantized: the same parameters, most of them in the quantized
    // format (norms stay f32), which names the model.
    let q = Model::open(&q_path).unwrap();
    assert_eq!(q.n_params(), want);
    let t = q.tensor_types();
    assert!(t[0].dtype.is_quantized(), "{t:?}");
    assert!(t.windows(2).all(|w| w[0].params >= w[1].params), "{t:?}");
    assert_eq!(
        t.iter().map(|u| u.tensors).sum::<usize>(),
        q.tensors().len()
    );
    assert!(q
        .description()
        .ends_with(&t[0].dtype.name().to_uppercase().replace("X16", "x16")));

    // A .minke file's metadata: its keys, sorted, the config as JSON.
    let meta = q.metadata();
    assert!(meta.windows(2).all(|w| w[0].0 < w[1].0), "{meta:?}");
    assert_eq!(q.metadata_value("minke.version"), Some("1"));
    assert!(q.metadata_value("minke.config").unwrap().starts_with('{'));
    assert_eq!(q.metadata_value("no.such.key"), None);

    // A checkpoint folder's: config.json's fields.
    let hf = Model::open(fixture("llama_gqa")).unwrap();
    assert_eq!(
        hf.metadata_value("architectures"),
        Some(r#"["LlamaForCausalLM"]"#)
    );
    assert!(hf
        .metadata_value("num_attention_heads")
        .unwrap()
        .parse::<u32>()
        .is_ok());
}

#[test]
fn the_real_model_describes_itself() {
    let Some(path) = real_model::model_path() else {
        return;
    };
    let m = Model::open(&path).unwrap();
    assert_eq!(m.description(), "llama 135M Q4_1");
    // SmolLM2-135M: 134,515,008 parameters (embeddings tied).
    assert_eq!(m.n_params(), 134_515_008);
    assert_eq!(m.tensor_types()[0].dtype, DType::Q4_1);
    // GGUF metadata, in file order, values as text.
    assert_eq!(m.metadata()[0].0, "general.architecture");
    assert_eq!(m.metadata_value("general.architecture"), Some("llama"));
    assert_eq!(m.metadata_value("llama.context_length"), Some("8192"));
    let tokens = m.metadata_value("tokenizer.ggml.tokens").unwrap();
    assert!(tokens.ends_with(", ... (49152 items)]"), "{tokens}");
    assert!(tokens.len() < 200, "{tokens}");
    let template = m.metadata_value("tokenizer.chat_template").unwrap();
    assert_eq!(Some(template), m.tokenizer().unwrap().chat_template());
}

#[test]
fn end_of_turn_and_custom_templates() {
    let Some(path) = real_model::model_path() else {
        return;
    };
    let m = Model::open(&path).unwrap();
    let t = m.tokenizer().unwrap();
    let eot = t.eot_id().unwrap();
    assert_eq!(t.id_to_token(eot), Some("<|im_end|>"));
    assert!(t.eos_ids().contains(&eot));

    let msgs = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Hi <|im_end|>"),
    ];
    let tpl = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}\
               {% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}";
    let text = t.apply_template(tpl, &msgs, true).unwrap();
    assert_eq!(
        text,
        "[system] Be brief.\n[user] Hi <|im_end|>\n[assistant]<|im_end|>"
    );
    // Encoded, the user's special-token text stays text; the template's
    // own eos_token is the control token.
    let ids = t.encode_chat_template(tpl, &msgs, true).unwrap();
    let specials: Vec<u32> = ids.iter().copied().filter(|&i| t.is_special(i)).collect();
    assert_eq!(specials, [eot]);
    // The model's own template, given as a custom one, renders the same.
    let own = t.chat_template().unwrap();
    assert_eq!(
        t.apply_template(own, &msgs, true).unwrap(),
        t.apply_chat_template(&msgs, true).unwrap()
    );
    // Within the same limits: a template too large, one that loops on.
    let huge = "x".repeat(300 * 1024);
    assert!(matches!(
        t.apply_template(&huge, &msgs, false),
        Err(Error::TemplateLimit { .. })
    ));
    let spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    assert!(matches!(
        t.apply_template(spin, &msgs, false),
        Err(Error::TemplateLimit { .. })
    ));
    assert!(matches!(
        t.apply_template("{% if %}", &msgs, false),
        Err(Error::Tokenizer(_))
    ));
}

/// The logits of every position of `TOKENS`, run in chunks of 4 with the
/// session's thread count changed before each chunk as `plan` says.
fn changing_threads(model: &Model, plan: &[usize]) -> Vec<f32> {
    let mut s = Session::new(model, params(plan[0], 4)).unwrap();
    let mut out = Vec::new();
    for (chunk, &n) in TOKENS.chunks(4).zip(plan.iter().cycle()) {
        s.set_n_threads(n).unwrap();
        assert_eq!(s.params().n_threads, n);
        s.prefill_each(chunk, |_, l| out.extend_from_slice(l))
            .unwrap();
    }
    assert_eq!(s.pos(), TOKENS.len());
    out
}

#[test]
fn thread_counts_change_without_changing_results() {
    let dir = TempDir::new("set-threads");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 6);
    let q = dir.path("q.minke");
    minke::quantize::quantize(&path, &q, DType::Q4_0, |_, _| {}).unwrap();
    // Llama (f32 and quantized) and DeepSeek's MLA, whose per-thread
    // scratch is its own.
    for path in [path, q, fixture("deepseek_v2")] {
        let model = Model::open(&path).unwrap();
        let want = all_logits(&model, params(1, 4), &TOKENS);
        for plan in [&[1, 3, 2, 4, 1][..], &[4, 1], &[2, 2, 5]] {
            let got = changing_threads(&model, plan);
            assert!(
                want.iter()
                    .zip(&got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{}: threads {plan:?} differ from 1",
                path.display()
            );
        }
    }
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let mut s = Session::new(&model, params(2, 4)).unwrap();
    assert!(matches!(s.set_n_threads(0), Err(Error::InvalidArgument(_))));
    assert_eq!(s.params().n_threads, 2);
    s.set_n_threads(1000).unwrap();
    assert_eq!(s.params().n_threads, minke::threads::MAX_THREADS);
}

#[test]
fn opening_logs_what_was_opened_and_what_went_wrong() {
    let _turn = LOG.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("log");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 7);
    let seen = Arc::new(Mutex::new(Vec::<(Level, String)>::new()));
    let s = Arc::clone(&seen);
    minke::log::set_sink(
        Level::Debug,
        Box::new(move |l, t| s.lock().unwrap().push((l, t.to_string()))),
    )
    .unwrap();
    let model = Model::open(&path).unwrap();
    // A context past the trained one is clamped, and says so.
    let mut p = params(1, 4);
    p.n_ctx = 100_000;
    let session = Session::new(&model, p).unwrap();
    drop(session);
    minke::log::clear_sink().unwrap();
    let _ = Model::open(&path).unwrap(); // not logged: no sink
    let seen = seen.lock().unwrap().clone();
    let opened: Vec<_> = seen
        .iter()
        .filter(|(l, t)| *l == Level::Info && t.contains("m.minke"))
        .collect();
    assert_eq!(opened.len(), 1, "{seen:?}");
    assert!(opened[0].1.contains(&model.description()), "{seen:?}");
    assert!(
        seen.iter()
            .any(|(l, t)| *l == Level::Info && t.contains("n_ctx 100000")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(l, t)| *l == Level::Debug && t.starts_with("session:")),
        "{seen:?}"
    );
}
