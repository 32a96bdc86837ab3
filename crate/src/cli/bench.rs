//! Throughput of the CLIP towers, printed as a table and as JSON. Inputs change every iteration so
//! that no backend can reuse a previous result.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::backend::Backend;
use crate::clip::random::RandomWeights;
use crate::clip::{Clip, ClipConfig, Kernels};
use crate::error::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Benchmark a real CLIP folder instead of random ViT-B/32-shaped weights
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Random weights in these shapes when no --clip is given
    #[arg(long, value_parser = ["vit-b-32", "vit-l-14"], default_value = "vit-b-32")]
    shape: String,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// How the transformer layers compute (default: fused on flex, float elsewhere); fused and
    /// int8 (the browser's CPU path) need --backend flex
    #[arg(long, value_enum)]
    kernels: Option<Kernels>,
    /// Batch sizes to measure
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batch: Vec<usize>,
    /// Text lengths (tokens, start and end included) to measure
    #[arg(long, value_delimiter = ',', default_value = "30,77")]
    text_len: Vec<usize>,
    /// Timed iterations per case (after one warm-up)
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Print only the JSON result
    #[arg(long)]
    json: bool,
    /// Instead of the towers, time training a head for 10 epochs on random features of the
    /// CLIP's widths, PrideMM-sized (4,328 train, 228 val, 507 test rows)
    #[arg(long)]
    train: bool,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.backend.device()?;
    if args.train {
        let config = match args.shape.as_str() {
            "vit-l-14" => ClipConfig::vit_l14(),
            _ => ClipConfig::vit_b32(),
        };
        return bench_training(&config, &device);
    }
    let kernels = args.kernels.unwrap_or(Kernels::float_for(&device));
    let clip = match &args.clip {
        Some(dir) => {
            let folder = crate::pipeline::ClipFolder::open(dir, Default::default())?;
            let eos = folder.tokenizer.eos_id();
            Clip::load(&folder.config, &folder.weights, eos, &device, kernels)?
        }
        None => {
            let config = match args.shape.as_str() {
                "vit-l-14" => ClipConfig::vit_l14(),
                _ => ClipConfig::vit_b32(),
            };
            Clip::load(&config, &RandomWeights { seed: 0 }, 49407, &device, kernels)?
        }
    };
    if args.iters == 0 || args.batch.contains(&0) {
        return Err(Error::Invalid(
            "--iters and --batch must be at least 1".into(),
        ));
    }
    let cases = args.batch.len() * (1 + args.text_len.len());
    let bar = ProgressBar::new((cases * (args.iters + 1)) as u64).with_style(
        ProgressStyle::with_template("{msg:>18} {bar:30} {pos}/{len} [{elapsed}]")
            .expect("valid template"),
    );
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let s = clip.config.vision.image_size;
    let mut results = Vec::new();
    for &batch in &args.batch {
        bar.set_message(format!("images x{batch}"));
        let ms = time(args.iters, &bar, || {
            let pixels = Tensor::<4>::random(
                [batch, 3, s, s],
                Distribution::Normal(0.0, 1.0),
                clip.device(),
            );
            sync(clip.encode_images(pixels)?)
        })?;
        results.push(json!({"tower": "vision", "batch": batch, "median_ms": ms,
            "items_per_s": batch as f64 * 1000.0 / ms}));
        for &len in &args.text_len {
            if len < 2 || len > clip.config.text.max_positions {
                return Err(Error::Invalid(format!(
                    "--text-len {len} must be between 2 and {}",
                    clip.config.text.max_positions
                )));
            }
            bar.set_message(format!("texts x{batch} @{len}"));
            let mut round = 0u32;
            let ms = time(args.iters, &bar, || {
                round += 1;
                sync(clip.encode_texts(&random_texts(batch, len, round))?.pooled)
            })?;
            results.push(
                json!({"tower": "text", "batch": batch, "tokens": len, "median_ms": ms,
                "items_per_s": batch as f64 * 1000.0 / ms}),
            );
        }
    }
    bar.finish_and_clear();
    let (cpu, isa) = cpu_description();
    let report = json!({
        "model": clip.config.name,
        "backend": format!("{:?}", args.backend).to_lowercase(),
        "kernels": kernels.name(),
        "cpu": cpu,
        "isa": isa,
        // The pool the products run on (RAYON_NUM_THREADS sets it).
        "threads": rayon::current_num_threads(),
        "iters": args.iters,
        "results": results,
    });
    if !args.json {
        println!(
            "{cpu} ({}), {} kernels, {} threads",
            isa.join(" "),
            kernels.name(),
            report["threads"]
        );
        println!(
            "{:<8} {:>5} {:>7} {:>11} {:>10}",
            "tower", "batch", "tokens", "median ms", "items/s"
        );
        for r in &results {
            println!(
                "{:<8} {:>5} {:>7} {:>11.1} {:>10.2}",
                r["tower"].as_str().unwrap_or(""),
                r["batch"],
                r.get("tokens").map(|t| t.to_string()).unwrap_or("-".into()),
                r["median_ms"].as_f64().unwrap_or(0.0),
                r["items_per_s"].as_f64().unwrap_or(0.0)
            );
        }
    }
    println!("{report}");
    Ok(())
}

/// Median wall time in ms of `iters` runs, after one untimed warm-up run.
fn time(iters: usize, bar: &ProgressBar, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    bar.inc(1);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        bar.inc(1);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Forces the computation to finish by reading the result back.
fn sync(t: Tensor<2>) -> Result<()> {
    t.try_into_data()
        .map(|_| ())
        .map_err(|e| Error::Backend(format!("{e:?}")))
}

/// Start token, `len - 2` ordinary tokens that differ every round, end token.
fn random_texts(batch: usize, len: usize, round: u32) -> Vec<Vec<u32>> {
    (0..batch as u32)
        .map(|b| {
            let mut ids = vec![49406];
            ids.extend(
                (0..len as u32 - 2).map(|i| 300 + (i * 7919 + b * 104_729 + round * 31) % 40_000),
            );
            ids.push(49407);
            ids
        })
        .collect()
}

/// Seconds to train a head on PrideMM-sized random features (binary labels, 10 epochs, batch 16).
fn bench_training(config: &ClipConfig, device: &burn::tensor::Device) -> Result<()> {
    use crate::data::features::{Features, Split};
    use crate::head::HeadConfig;
    use crate::train::{Select, TaskRows, TrainOptions, train};
    use burn::module::Module;

    let splits = [(Split::Train, 4328), (Split::Val, 228), (Split::Test, 507)];
    let n: usize = splits.iter().map(|(_, k)| k).sum();
    let (di, dt) = (config.projection_dim, config.text.tower.hidden_size);
    let random = crate::clip::random::RandomWeights { seed: 1 };
    use crate::clip::WeightSource;
    let features = Features {
        image_dim: di,
        text_dim: dt,
        image: random.read("image", &[n, di])?,
        text: random.read("text", &[n, dt])?,
        split: splits
            .iter()
            .flat_map(|&(s, k)| std::iter::repeat_n(s, k))
            .collect(),
        labels: [(
            "hate".to_string(),
            (0..n as i64).map(|i| (i * 7 / 3) % 2).collect(),
        )]
        .into(),
        class_names: Default::default(),
        names: (0..n).map(|i| i.to_string()).collect(),
        clip_model: config.name.clone(),
        clip_vision_width: config.vision.tower.hidden_size,
        preprocess: "memeclip".into(),
    };
    let task = TaskRows::new(&features, "hate", 2)?;
    let options = TrainOptions {
        task: "hate".into(),
        epochs: 10,
        batch: 16,
        lr: 1e-4,
        weight_decay: 1e-4,
        seed: 42,
        select: Select::Val,
    };
    let train_device = device.clone().autodiff();
    let head = HeadConfig::memeclip(di, dt, config.vision.tower.hidden_size, 2).init(&train_device);
    let start = Instant::now();
    let trained = train(
        head,
        &features,
        &task,
        &options,
        &train_device,
        |_, _| {},
        |_| {},
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let steps = task.train.len().div_ceil(16) * 10;
    println!(
        "{}",
        json!({"model": config.name, "train_rows": task.train.len(), "epochs": 10, "steps": steps,
               "seconds": seconds, "steps_per_s": steps as f64 / seconds,
               "head_parameters": trained.best.num_params()})
    );
    Ok(())
}

/// The CPU's model name and the vector instruction sets this binary's kernels can use on it, so
/// that a figure says which machine it came from.
fn cpu_description() -> (String, Vec<&'static str>) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    // AMX detection is not stable in std yet; Linux lists it among the flags.
    #[cfg(target_arch = "x86_64")]
    let amx = field("flags").is_some_and(|f| f.split(' ').any(|flag| flag == "amx_int8"));
    #[allow(unused_mut)]
    let mut isa = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        for (name, present) in [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            (
                "avx512vnni",
                std::arch::is_x86_feature_detected!("avx512vnni"),
            ),
            ("avxvnni", std::arch::is_x86_feature_detected!("avxvnni")),
            ("amx-int8", amx),
        ] {
            if present {
                isa.push(name);
            }
        }
    }
    (model, isa)
}
