//! Measures what a GAN is known to get wrong: sample quality, mode collapse and mode dropping.
//!
//! Two yardsticks. Digits (and Stacked MNIST, a digit per channel) are judged by a small classifier the trainer trains itself
//! (`trainer classifier`): class histogram, classes covered, KL from the real class distribution,
//! conditional accuracy, Frechet distance in its features and its confidence. 2-D generators
//! trained on `ring8` / `grid25` are judged by the literature's protocol (modes captured,
//! high-quality share, reverse KL), so our figures compare with published tables.

pub mod classifier;
pub mod digits;
pub mod frechet;
pub mod report;
pub mod stacked;
pub mod stats;
pub mod toy;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use crate::data::stacked::STACK;
use crate::data::toy::ToyKind;
use crate::error::{Error, Result};
use digits::{Digits, ImageScore, ImageSet, RealReference};
use report::{DigitsReport, DigitsSummary, ToyReport, ToyRow, ToySummary};

/// Where `trainer classifier` writes and `trainer eval` reads the classifier, in `models/`.
pub const CLASSIFIER_FILE: &str = "digits-classifier.safetensors";
/// Images drawn from a digit generator unless `--count` says otherwise.
const DIGITS_COUNT: usize = 2_000;
/// Upper bound on `--count`, to keep a typo from exhausting memory.
const MAX_COUNT: usize = 1_000_000;

/// `trainer classifier`: trains the digit classifier used by `trainer eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClassifierArgs {
    /// Directory with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (digits)
    /// [default: the bundled digits].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Digits kept out of training to measure accuracy (and as the real images of the Frechet
    /// distance): the last ones of each class, in proportion to the class sizes.
    #[arg(long, default_value_t = 1000)]
    pub holdout: usize,
    /// Passes over the training digits.
    #[arg(long, default_value_t = classifier::TrainConfig::default().epochs)]
    pub epochs: usize,
    /// Seed of the initial weights, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the classifier [default: models/digits-classifier.safetensors].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing classifier file.
    #[arg(long)]
    pub force: bool,
}

/// `trainer eval`: measures generators or images.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Generator files (several, for instance one per training seed, give a mean and standard
    /// error).
    #[arg(long, num_args = 1.., required_unless_present_any = ["run", "images"], conflicts_with_all = ["run", "images"])]
    pub model: Vec<PathBuf>,
    /// Run directories: each is evaluated through its newest checkpoint, exported in memory.
    #[arg(long, num_args = 1.., conflicts_with = "images")]
    pub run: Vec<PathBuf>,
    /// Images made elsewhere: a file of raw 28x28 grey bytes (n * 784, 0 = background) or a
    /// folder of PNG/JPEG images.
    #[arg(long, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Channels of the --images: 1 (digits) or 3 (Stacked MNIST, a digit per channel; a raw file
    /// then holds 28x28x3 bytes per image, channels last, as `sample --format raw` writes them).
    /// Generators say their own.
    #[arg(long, default_value_t = 1, requires = "images")]
    pub channels: usize,
    /// Images generated per digit generator (classes cycled for a conditional one) [default:
    /// 2,000; 26,000 for a Stacked MNIST generator, the published protocol].
    #[arg(long)]
    pub count: Option<usize>,
    /// Seed of the latent vectors (runtime `LatentRng`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples drawn from each 2-D generator, one score per count: the literature's 2,500, and
    /// 100,000 for a steadier estimate.
    #[arg(long, value_delimiter = ',', default_values_t = [2_500usize, 100_000])]
    pub toy_samples: Vec<usize>,
    /// The distribution a 2-D generator was trained on (default: its file's provenance).
    #[arg(long, value_enum)]
    pub toy: Option<ToyKind>,
    /// The digit classifier [default: models/digits-classifier.safetensors].
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
    /// The real digits: class distribution, baseline and held-out images [default: the bundled
    /// digits].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Held-out real digits, split as `trainer classifier` splits them (must match its --holdout).
    #[arg(long, default_value_t = 1000)]
    pub holdout: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// With --run: score the raw weights of runs that keep a weight average (`train --ema`),
    /// instead of the average that `export` writes, to measure what the average adds.
    #[arg(long)]
    pub raw_weights: bool,
}

/// Trains, measures and saves the classifier; prints its held-out accuracy.
pub fn run_classifier(args: &ClassifierArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(default_classifier);
    let data = args
        .data
        .clone()
        .unwrap_or_else(crate::run_dir::default_data_dir);
    if out.exists() && !args.force {
        return Err(Error::WouldOverwrite { path: out });
    }
    let device = Device::Cpu;
    let all = digits::load_digits(&data)?;
    let (train, heldout) = all.split(args.holdout)?;
    let cfg = classifier::TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..Default::default()
    };
    eprintln!(
        "training the digit classifier on {} digits of {} ({} held out), {} epochs",
        train.len(),
        data.display(),
        heldout.len(),
        cfg.epochs
    );
    let start = Instant::now();
    let trained = classifier::train(
        &train.pixels,
        &train.labels,
        &cfg,
        &device,
        |epoch, loss| {
            eprintln!("epoch {epoch}/{}: mean training loss {loss:.4}", cfg.epochs);
        },
    )?;
    let secs = start.elapsed().as_secs_f64();
    let verdicts = trained.model.classify(&heldout.pixels)?;
    let accuracy = classifier::accuracy(&verdicts, &heldout.labels)?;
    print_accuracy(&verdicts.predicted, &heldout.labels, accuracy, secs);
    let provenance = [
        (
            "dataset",
            data.file_name().map_or_else(
                || data.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        ),
        ("train_images", train.len().to_string()),
        ("heldout_images", heldout.len().to_string()),
        ("heldout_accuracy", format!("{accuracy:.4}")),
        ("epochs", cfg.epochs.to_string()),
        ("batch_size", cfg.batch_size.to_string()),
        ("seed", cfg.seed.to_string()),
        (
            "augmentation",
            format!("random shifts up to {} px", cfg.max_shift),
        ),
        ("trainer", format!("trainer {}", env!("CARGO_PKG_VERSION"))),
    ];
    classifier::save(&trained.vars, &out, &provenance)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Accuracy per true class; `None` for a class with no example.
fn per_class_accuracy(predicted: &[usize], labels: &[u8]) -> Vec<Option<f64>> {
    let mut hits = [0usize; classifier::CLASSES];
    let mut total = [0usize; classifier::CLASSES];
    for (&p, &l) in predicted.iter().zip(labels) {
        let l = usize::from(l).min(classifier::CLASSES - 1);
        total[l] += 1;
        hits[l] += usize::from(p == l);
    }
    hits.iter()
        .zip(&total)
        .map(|(&h, &t)| (t > 0).then(|| h as f64 / t as f64))
        .collect()
}

/// A generator to evaluate: its bytes and a name for the report.
struct Source {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

/// Runs `trainer eval` and prints the table or JSON.
pub fn run_eval(args: &EvalArgs) -> Result<()> {
    let text = evaluate(args)?;
    print!("{text}");
    Ok(())
}

/// Runs `trainer eval` and returns what it prints.
pub fn evaluate(args: &EvalArgs) -> Result<String> {
    check_args(args)?;
    if !args.images.is_empty() && args.channels == STACK {
        let sets = args
            .images
            .iter()
            .map(|p| Ok((p.display().to_string(), stacked::load_images(p)?)))
            .collect::<Result<Vec<_>>>()?;
        return stacked_report(args, sets);
    }
    if !args.images.is_empty() {
        let sets = args
            .images
            .iter()
            .map(|p| Ok((p.display().to_string(), digits::load_images(p)?)))
            .collect::<Result<Vec<_>>>()?;
        return digits_report(args, sets);
    }
    let sources = generator_sources(args)?;
    let first = sources
        .first()
        .ok_or_else(|| Error::InvalidArgument("nothing to evaluate".into()))?;
    let g = runtime::Generator::load(&first.bytes).map_err(|e| Error::Model {
        path: first.path.clone(),
        reason: e.to_string(),
    })?;
    if g.output_len() == 2 {
        toy_report(args, &sources)
    } else if g.output_shape().c == STACK {
        let count = args.count.unwrap_or(stacked::PROTOCOL_COUNT);
        let sets = sources
            .iter()
            .map(|s| {
                Ok((
                    s.name.clone(),
                    stacked::generate(&s.bytes, &s.path, count, args.seed)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        stacked_report(args, sets)
    } else {
        let count = args.count.unwrap_or(DIGITS_COUNT);
        let sets = sources
            .iter()
            .map(|s| {
                Ok((
                    s.name.clone(),
                    digits::generate(&s.bytes, &s.path, count, args.seed)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        digits_report(args, sets)
    }
}

/// The option values `eval` refuses, each error naming its option.
fn check_args(args: &EvalArgs) -> Result<()> {
    if let Some(n) = args
        .toy_samples
        .iter()
        .find(|n| !(1..=MAX_COUNT).contains(*n))
    {
        return Err(Error::InvalidArgument(format!(
            "--toy-samples {n} must be between 1 and {MAX_COUNT}"
        )));
    }
    if let Some(n) = args.count.filter(|n| !(2..=MAX_COUNT).contains(n)) {
        return Err(Error::InvalidArgument(format!(
            "--count {n} must be between 2 and {MAX_COUNT}"
        )));
    }
    if args.channels != 1 && args.channels != STACK {
        return Err(Error::InvalidArgument(format!(
            "--channels {} must be 1 (digits) or 3 (Stacked MNIST)",
            args.channels
        )));
    }
    if args.raw_weights && args.run.is_empty() {
        return Err(Error::InvalidArgument(
            "--raw-weights chooses between a run's raw and averaged weights; use it with --run"
                .into(),
        ));
    }
    Ok(())
}

/// The generators `--model` files or `--run` directories name, as model-file bytes.
fn generator_sources(args: &EvalArgs) -> Result<Vec<Source>> {
    if !args.run.is_empty() {
        return args
            .run
            .iter()
            .map(|dir| run_source(dir, args.raw_weights))
            .collect();
    }
    args.model
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            Ok(Source {
                name: p.display().to_string(),
                path: p.clone(),
                bytes,
            })
        })
        .collect()
}

/// The held-out accuracy of a freshly trained classifier, overall and per digit.
fn print_accuracy(predicted: &[usize], labels: &[u8], accuracy: f64, secs: f64) {
    let per_class = per_class_accuracy(predicted, labels);
    println!(
        "held-out accuracy {:.2}% on {} held-out digits ({} errors); trained in {secs:.1} s",
        100.0 * accuracy,
        labels.len(),
        predicted
            .iter()
            .zip(labels)
            .filter(|(p, &l)| **p != usize::from(l))
            .count()
    );
    let per: Vec<String> = per_class
        .iter()
        .enumerate()
        .map(|(c, a)| match a {
            Some(a) => format!("{c}: {:.1}%", 100.0 * a),
            None => format!("{c}: -"),
        })
        .collect();
    println!("per digit: {}", per.join(", "));
}

/// The generator of a run directory: its newest valid checkpoint, exported in memory in f16
/// exactly as `trainer export` would (so the runtime draws what the board would draw); with `raw`,
/// its raw weights even where the run keeps an average.
fn run_source(dir: &Path, raw: bool) -> Result<Source> {
    let cfg = crate::config::TrainConfig::load(dir)?;
    let loaded = crate::checkpoint::newest_valid(dir)?;
    let gan = if raw {
        crate::checkpoint::load_raw_gan(&loaded)?
    } else {
        crate::checkpoint::load_gan(&loaded)?
    };
    let provenance = [("dataset".to_string(), cfg.data.name())];
    let bytes = crate::export::build_bytes(&gan, &provenance, crate::export::ExportDtype::F16)?;
    let path = loaded.info.path.clone();
    Ok(Source {
        name: format!("{} (step {})", dir.display(), loaded.info.step),
        path,
        bytes,
    })
}

/// `models/digits-classifier.safetensors` in the workspace.
pub fn default_classifier() -> PathBuf {
    crate::run_dir::default_models_dir().join(CLASSIFIER_FILE)
}

/// The yardstick both digit reports need: the classifier, all real digits, and their training and
/// held-out splits.
fn yardstick(args: &EvalArgs) -> Result<(classifier::Classifier, Digits, Digits, Digits)> {
    let classifier_path = args.classifier.clone().unwrap_or_else(default_classifier);
    if !classifier_path.is_file() {
        return Err(Error::Classifier {
            path: classifier_path,
            reason: "not found; train it with `cargo run --release -p trainer -- classifier`"
                .into(),
        });
    }
    let model = classifier::Classifier::load(&classifier_path, &Device::Cpu)?;
    let all = digits::load_digits(
        &args
            .data
            .clone()
            .unwrap_or_else(crate::run_dir::default_data_dir),
    )?;
    let (train, heldout) = all.split(args.holdout)?;
    Ok((model, all, train, heldout))
}

/// The classifier file as the report names it.
fn classifier_name(args: &EvalArgs) -> String {
    match &args.classifier {
        Some(p) => p.display().to_string(),
        None => format!("models/{CLASSIFIER_FILE}"),
    }
}

fn stacked_report(args: &EvalArgs, sets: Vec<(String, stacked::StackedSet)>) -> Result<String> {
    let (model, _, train, heldout) = yardstick(args)?;
    let heldout_features = frechet::FeatureStats::from_rows(
        &model.classify(&heldout.pixels)?.features,
        classifier::FEATURES,
    )?;
    // Real stacked digits of the training split, as many as the first source holds (the Frechet
    // distance depends on the sample size).
    let n = sets
        .first()
        .map_or(stacked::PROTOCOL_COUNT, |(_, s)| s.len());
    let real = stacked::real(&train, n.max(2), args.seed)?;
    let real_baseline = stacked::score(
        &format!("real stacked digits (training split, {})", real.len()),
        &real,
        &model,
        &heldout_features,
    )?;
    let results = sets
        .iter()
        .map(|(name, set)| stacked::score(name, set, &model, &heldout_features))
        .collect::<Result<Vec<_>>>()?;
    let report = stacked::StackedReport {
        kind: "stacked",
        classifier: classifier_name(args),
        heldout_images: heldout.len(),
        real_baseline,
        summary: stacked::StackedSummary::of(&results),
        results,
    };
    if args.json {
        to_json(&report)
    } else {
        Ok(stacked::table(&report))
    }
}

fn digits_report(args: &EvalArgs, sets: Vec<(String, ImageSet)>) -> Result<String> {
    let (model, all, train, heldout) = yardstick(args)?;
    let reference = RealReference::new(&model, &all.labels, &heldout)?;
    // Real training digits, as many as the first source holds (the Frechet distance depends on
    // the sample size): the figures a perfect generator would get.
    let n = sets
        .first()
        .map_or(DIGITS_COUNT, |(_, s)| s.len())
        .clamp(2, train.len());
    let real = ImageSet {
        pixels: train.pixels[..n * classifier::PIXELS].to_vec(),
        asked: None,
    };
    let baseline = digits::score(
        &format!("real digits (training split, {n})"),
        &real,
        &model,
        &reference,
    )?;
    let results = sets
        .iter()
        .map(|(name, set)| digits::score(name, set, &model, &reference))
        .collect::<Result<Vec<ImageScore>>>()?;
    let report = DigitsReport {
        kind: "digits",
        classifier: classifier_name(args),
        heldout_images: heldout.len(),
        real_baseline: Some(baseline),
        summary: DigitsSummary::of(&results),
        results,
    };
    if args.json {
        to_json(&report)
    } else {
        Ok(report::digits_table(&report))
    }
}

fn toy_report(args: &EvalArgs, sources: &[Source]) -> Result<String> {
    let mut kind = args.toy;
    let mut rows = Vec::new();
    for s in sources {
        let g = runtime::Generator::load(&s.bytes).map_err(|e| Error::Model {
            path: s.path.clone(),
            reason: e.to_string(),
        })?;
        let named = g.metadata("provenance.dataset").and_then(|d| match d {
            "ring8" => Some(ToyKind::Ring8),
            "grid25" => Some(ToyKind::Grid25),
            _ => None,
        });
        let k = match (args.toy, named, kind) {
            (Some(k), _, _) => k,
            (None, Some(n), Some(prev)) if n != prev => {
                return Err(Error::InvalidArgument(format!(
                    "{} was trained on {}, the previous generators on {}: evaluate them separately",
                    s.name,
                    n.name(),
                    prev.name()
                )))
            }
            (None, Some(n), _) => n,
            (None, None, _) => {
                return Err(Error::InvalidArgument(format!(
                "{}: a 2-D generator whose provenance does not name ring8 or grid25; pass --toy",
                s.name
            )))
            }
        };
        kind = Some(k);
        let largest = args.toy_samples.iter().copied().max().unwrap_or(0);
        let points = toy::generate(&s.bytes, &s.path, largest, args.seed)?;
        for &n in &args.toy_samples {
            let sc = toy::score(k, &points[..n])?;
            rows.push(ToyRow {
                source: s.name.clone(),
                score: (&sc).into(),
            });
        }
    }
    let kind = kind.ok_or_else(|| Error::InvalidArgument("nothing to evaluate".into()))?;
    let report = ToyReport {
        kind: "toy",
        distribution: kind.name().into(),
        modes: kind.modes().len(),
        summary: args
            .toy_samples
            .iter()
            .map(|&n| ToySummary::of(&rows, n))
            .collect(),
        results: rows,
    };
    if args.json {
        to_json(&report)
    } else {
        Ok(report::toy_table(&report))
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| Error::Json {
        path: PathBuf::from("-"),
        reason: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}
