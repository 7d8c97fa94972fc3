//! The evaluation's output: a table for people and JSON (`--json`) for other tools. The JSON holds
//! every figure of the table plus the per-class histograms.

use serde::Serialize;

use super::digits::ImageScore;
use super::stats::{mean_se, MeanSe};
use super::toy::ToyScore;

/// A figure over several generators (seeds): mean and standard error of the mean.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Aggregate {
    pub mean: f64,
    /// `null` for a single generator.
    pub se: Option<f64>,
}

impl From<MeanSe> for Aggregate {
    fn from(m: MeanSe) -> Self {
        Aggregate {
            mean: m.mean,
            se: m.se,
        }
    }
}

/// [`Aggregate`] of a figure picked from each item; `None` when no item has it.
pub(super) fn aggregate<T>(items: &[T], pick: impl Fn(&T) -> Option<f64>) -> Option<Aggregate> {
    let values: Vec<f64> = items.iter().filter_map(pick).collect();
    mean_se(&values).map(Aggregate::from)
}

/// `mean ± se` with `digits` decimals (just the mean for one generator).
pub(super) fn fmt_agg(a: Option<Aggregate>, digits: usize) -> String {
    match a {
        None => "-".into(),
        Some(Aggregate { mean, se: None }) => format!("{mean:.digits$}"),
        Some(Aggregate { mean, se: Some(se) }) => format!("{mean:.digits$} ± {se:.digits$}"),
    }
}

/// Everything `trainer eval` measured on digits.
#[derive(Debug, Clone, Serialize)]
pub struct DigitsReport {
    /// Always `"digits"`.
    pub kind: &'static str,
    /// The classifier file used as the yardstick.
    pub classifier: String,
    /// Held-out real digits the Frechet distance compares with.
    pub heldout_images: usize,
    /// Real digits of the training split scored like a generator: the best a generator can hope for.
    pub real_baseline: Option<ImageScore>,
    /// One row per source.
    pub results: Vec<ImageScore>,
    /// Mean and standard error over `results` (useful when they are seeds of one configuration).
    pub summary: DigitsSummary,
}

/// [`DigitsReport::summary`].
#[derive(Debug, Clone, Serialize)]
pub struct DigitsSummary {
    pub sources: usize,
    pub classes_covered: Option<Aggregate>,
    pub kl_to_real: Option<Aggregate>,
    pub conditional_accuracy: Option<Aggregate>,
    pub frechet_distance: Option<Aggregate>,
    pub mean_confidence: Option<Aggregate>,
}

impl DigitsSummary {
    /// Summarises the rows of a report.
    pub fn of(results: &[ImageScore]) -> DigitsSummary {
        DigitsSummary {
            sources: results.len(),
            classes_covered: aggregate(results, |r| Some(r.classes_covered as f64)),
            kl_to_real: aggregate(results, |r| Some(r.kl_to_real)),
            conditional_accuracy: aggregate(results, |r| r.conditional_accuracy),
            frechet_distance: aggregate(results, |r| Some(r.frechet_distance)),
            mean_confidence: aggregate(results, |r| Some(r.mean_confidence)),
        }
    }
}

/// Renders a digits report as a plain-text table.
pub fn digits_table(r: &DigitsReport) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<40} {:>7} {:>8} {:>9} {:>9} {:>9} {:>6}  histogram of digits 0..9\n",
        "source", "images", "covered", "KL(real)", "cond.acc", "Frechet", "conf"
    );
    out.push_str(&header);
    let row = |s: &ImageScore| {
        let acc = s
            .conditional_accuracy
            .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a));
        let hist: Vec<String> = s.histogram.iter().map(|c| c.to_string()).collect();
        format!(
            "{:<40} {:>7} {:>5}/10 {:>9.4} {:>9} {:>9.3} {:>6.3}  {}\n",
            shorten(&s.source, 40),
            s.images,
            s.classes_covered,
            s.kl_to_real,
            acc,
            s.frechet_distance,
            s.mean_confidence,
            hist.join(" ")
        )
    };
    for s in r.real_baseline.iter().chain(&r.results) {
        out.push_str(&row(s));
    }
    if r.results.len() > 1 {
        let m = &r.summary;
        out.push_str(&format!(
            "mean ± standard error over {} sources: covered {}, KL {}, cond.acc {}, Frechet {}, conf {}\n",
            m.sources,
            fmt_agg(m.classes_covered, 2),
            fmt_agg(m.kl_to_real, 4),
            fmt_agg(m.conditional_accuracy.map(|a| Aggregate { mean: 100.0 * a.mean, se: a.se.map(|s| 100.0 * s) }), 1),
            fmt_agg(m.frechet_distance, 3),
            fmt_agg(m.mean_confidence, 3),
        ));
    }
    out.push_str(&format!(
        "classifier {}; Frechet distance to {} held-out real digits in its 128 penultimate features; \
         covered = at least 1% of the images\n",
        r.classifier, r.heldout_images
    ));
    out
}

/// Everything `trainer eval` measured on 2-D toy generators.
#[derive(Debug, Clone, Serialize)]
pub struct ToyReport {
    /// Always `"toy"`.
    pub kind: &'static str,
    /// `ring8` or `grid25`.
    pub distribution: String,
    /// Number of modes of the distribution.
    pub modes: usize,
    /// One entry per source and sample count.
    pub results: Vec<ToyRow>,
    /// Mean and standard error over sources, per sample count.
    pub summary: Vec<ToySummary>,
}

/// One source scored on one sample count.
#[derive(Debug, Clone, Serialize)]
pub struct ToyRow {
    pub source: String,
    #[serde(flatten)]
    pub score: ToyScoreJson,
}

/// [`ToyScore`] as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct ToyScoreJson {
    pub samples: usize,
    pub modes_captured: usize,
    pub high_quality: f64,
    pub reverse_kl: f64,
    pub histogram: Vec<usize>,
}

impl From<&ToyScore> for ToyScoreJson {
    fn from(s: &ToyScore) -> Self {
        ToyScoreJson {
            samples: s.samples,
            modes_captured: s.modes_captured,
            high_quality: s.high_quality,
            reverse_kl: s.reverse_kl,
            histogram: s.histogram.clone(),
        }
    }
}

/// Figures over all sources for one sample count.
#[derive(Debug, Clone, Serialize)]
pub struct ToySummary {
    pub samples: usize,
    pub sources: usize,
    pub modes_captured: Option<Aggregate>,
    pub high_quality: Option<Aggregate>,
    pub reverse_kl: Option<Aggregate>,
}

impl ToySummary {
    /// Summarises the rows with `samples` samples.
    pub fn of(rows: &[ToyRow], samples: usize) -> ToySummary {
        let picked: Vec<&ToyRow> = rows.iter().filter(|r| r.score.samples == samples).collect();
        ToySummary {
            samples,
            sources: picked.len(),
            modes_captured: aggregate(&picked, |r| Some(r.score.modes_captured as f64)),
            high_quality: aggregate(&picked, |r| Some(r.score.high_quality)),
            reverse_kl: aggregate(&picked, |r| Some(r.score.reverse_kl)),
        }
    }
}

/// Renders a toy report as a plain-text table.
pub fn toy_table(r: &ToyReport) -> String {
    let mut out = format!(
        "{} ({} modes): high quality = within 3 std of the nearest mode\n{:<40} {:>8} {:>7} {:>9} {:>10}\n",
        r.distribution, r.modes, "source", "samples", "modes", "HQ %", "reverse KL"
    );
    for row in &r.results {
        out.push_str(&format!(
            "{:<40} {:>8} {:>7} {:>9.1} {:>10.4}\n",
            shorten(&row.source, 40),
            row.score.samples,
            row.score.modes_captured,
            100.0 * row.score.high_quality,
            row.score.reverse_kl
        ));
    }
    for s in &r.summary {
        let hq = s.high_quality.map(|a| Aggregate {
            mean: 100.0 * a.mean,
            se: a.se.map(|e| 100.0 * e),
        });
        out.push_str(&format!(
            "mean ± standard error over {} sources at {} samples: modes {} / {}, HQ {} %, reverse KL {}\n",
            s.sources,
            s.samples,
            fmt_agg(s.modes_captured, 1),
            r.modes,
            fmt_agg(hq, 1),
            fmt_agg(s.reverse_kl, 3)
        ));
    }
    out
}

/// Keeps the end of a long path, which names the file.
pub(super) fn shorten(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_score(source: &str, covered: usize, fd: f64, acc: Option<f64>) -> ImageScore {
        ImageScore {
            source: source.into(),
            images: 100,
            histogram: vec![10; 10],
            classes_covered: covered,
            kl_to_real: 0.01,
            conditional_accuracy: acc,
            frechet_distance: fd,
            mean_confidence: 0.9,
        }
    }

    #[test]
    fn digits_summary_and_table() {
        let results = vec![
            image_score("a", 10, 2.0, None),
            image_score("b", 8, 4.0, None),
        ];
        let summary = DigitsSummary::of(&results);
        assert_eq!(summary.classes_covered.unwrap().mean, 9.0);
        assert_eq!(summary.frechet_distance.unwrap().se, Some(1.0));
        assert!(summary.conditional_accuracy.is_none());
        let report = DigitsReport {
            kind: "digits",
            classifier: "c.safetensors".into(),
            heldout_images: 1000,
            real_baseline: None,
            results,
            summary,
        };
        let table = digits_table(&report);
        assert!(table.contains("covered 9.00 ± 1.00"), "{table}");
        assert!(table.contains("   10/10"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["results"][1]["classes_covered"], 8);
        assert_eq!(
            json["summary"]["conditional_accuracy"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn toy_summary_separates_sample_counts() {
        let row = |src: &str, samples, modes| ToyRow {
            source: src.into(),
            score: ToyScoreJson {
                samples,
                modes_captured: modes,
                high_quality: 0.9,
                reverse_kl: 0.1,
                histogram: vec![],
            },
        };
        let rows = vec![
            row("a", 2500, 24),
            row("b", 2500, 25),
            row("a", 100_000, 25),
        ];
        let s = ToySummary::of(&rows, 2500);
        assert_eq!(s.sources, 2);
        assert_eq!(s.modes_captured.unwrap().mean, 24.5);
        let s = ToySummary::of(&rows, 100_000);
        assert_eq!(s.modes_captured.unwrap().se, None);
        let report = ToyReport {
            kind: "toy",
            distribution: "grid25".into(),
            modes: 25,
            summary: vec![ToySummary::of(&rows, 2500)],
            results: rows,
        };
        let table = toy_table(&report);
        assert!(table.contains("modes 24.5 ± 0.5 / 25"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["results"][0]["samples"], 2500);
    }

    #[test]
    fn long_sources_keep_their_file_name() {
        let s = shorten("a/very/long/path/to/some/generator-file.safetensors", 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.ends_with("file.safetensors"));
        assert_eq!(shorten("short", 20), "short");
    }
}
