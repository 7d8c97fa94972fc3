//! `train --resume DIR` continues a run as its `config.json` describes it. Options that would
//! change what is trained are refused, by name, instead of being ignored; those that only extend
//! the run or concern this machine (`--steps`, `--epochs`, `--max-memory`, `--device`, `--quiet`,
//! `--no-export`, `--force`) are taken.

use super::{data_source, Preset, TrainArgs, TrainConfig};
use crate::data::DataSource;
use crate::error::{Error, Result};

/// An error naming every option given with `--resume` that contradicts the run's configuration.
pub fn check_resume_options(a: &TrainArgs, cfg: &TrainConfig) -> Result<()> {
    let differs: Vec<String> = given(a, cfg)
        .into_iter()
        .filter(|(_, given, kept)| given != kept)
        .map(|(option, given, kept)| format!("{option} {given} (the run has {kept})"))
        .collect();
    if differs.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "--resume continues the run as configured; these options contradict it: {}. Start a new run (--name) to change them",
        differs.join(", ")
    )))
}

/// What was given against what the run has, one entry per option given on the command line.
#[derive(Default)]
struct Given(Vec<(&'static str, String, String)>);

impl Given {
    fn add(&mut self, option: &'static str, given: Option<String>, kept: String) {
        if let Some(g) = given {
            self.0.push((option, g, kept));
        }
    }
}

/// A value as the command line spells it (`Ns` -> `ns`).
fn text(v: &dyn std::fmt::Debug) -> String {
    format!("{v:?}").to_lowercase()
}

/// (option, value given, value of the run) for every option given on the command line.
fn given(a: &TrainArgs, cfg: &TrainConfig) -> Vec<(&'static str, String, String)> {
    let mut g = Given::default();
    what_is_trained(a, cfg, &mut g);
    how_it_is_trained(a, cfg, &mut g);
    g.0
}

/// The options that choose the data and the networks.
fn what_is_trained(a: &TrainArgs, cfg: &TrainConfig, g: &mut Given) {
    g.add(
        "--arch",
        a.arch.map(|v| v.to_string()),
        cfg.arch.to_string(),
    );
    let conditional = (a.conditional && !a.unconditional).then_some(true);
    let conditional = conditional.or(a.unconditional.then_some(false));
    g.add(
        "--conditional",
        conditional.map(|c| c.to_string()),
        cfg.conditional.to_string(),
    );
    g.add("--loss", a.loss.map(|v| text(&v)), text(&cfg.loss));
    let data_given = a.data.is_some() || a.images.is_some() || a.toy.is_some() || a.stack.is_some();
    // The stacking's seed is the run's, compared under --seed below.
    let given = data_source(a).map(|d| match d {
        DataSource::Stacked { dir, .. } => DataSource::Stacked {
            dir,
            seed: cfg.seed,
        },
        other => other,
    });
    g.add(
        "--data/--images/--toy/--stack",
        data_given.then(|| match given {
            Ok(d) => format!("{d:?}"),
            Err(e) => e.to_string(),
        }),
        format!("{:?}", cfg.data),
    );
    g.add(
        "--limit",
        a.limit.map(|v| v.to_string()),
        text(&cfg.limit.unwrap_or(0)),
    );
    g.add(
        "--batch-size",
        a.batch_size.map(|v| v.to_string()),
        cfg.batch_size.to_string(),
    );
    g.add(
        "--pack",
        a.pack.map(|v| v.to_string()),
        cfg.pack.to_string(),
    );
    g.add(
        "--mode-seeking",
        a.mode_seeking.map(|v| v.to_string()),
        cfg.mode_seeking.to_string(),
    );
    g.add("--toy-net", a.toy_net.map(|v| text(&v)), text(&cfg.toy_net));
    g.add(
        "--width",
        a.width.map(|v| v.to_string()),
        cfg.width.to_string(),
    );
    g.add(
        "--d-width",
        a.d_width.map(|v| v.to_string()),
        text(&cfg.d_width.unwrap_or(cfg.width)),
    );
    g.add("--ema", a.ema.map(|v| v.to_string()), cfg.ema.to_string());
}

/// The options of the optimiser, the schedule and the run's bookkeeping.
fn how_it_is_trained(a: &TrainArgs, cfg: &TrainConfig, g: &mut Given) {
    g.add("--lr", a.lr.map(|v| v.to_string()), cfg.adam.lr.to_string());
    g.add(
        "--lr-decay",
        a.lr_decay.map(|v| text(&v)),
        text(&cfg.adam.decay),
    );
    g.add(
        "--beta1",
        a.beta1.map(|v| v.to_string()),
        cfg.adam.beta1.to_string(),
    );
    g.add(
        "--beta2",
        a.beta2.map(|v| v.to_string()),
        cfg.adam.beta2.to_string(),
    );
    g.add(
        "--latent-dim",
        a.latent_dim.map(|v| v.to_string()),
        cfg.latent_dim.to_string(),
    );
    g.add(
        "--sample-every",
        a.sample_every.map(|v| v.to_string()),
        cfg.sample_every.to_string(),
    );
    g.add(
        "--checkpoint-every",
        a.checkpoint_every.map(|v| v.to_string()),
        cfg.checkpoint_every.to_string(),
    );
    g.add("--name", a.name.clone(), cfg.name.clone());
    // Options with a default: given only when they differ from it.
    g.add(
        "--seed",
        (a.seed != 0).then(|| a.seed.to_string()),
        cfg.seed.to_string(),
    );
    g.add(
        "--log-every",
        a.log_every.map(|v| v.to_string()),
        cfg.log_every.to_string(),
    );
    g.add(
        "--preset",
        (a.preset != Preset::Default).then(|| text(&a.preset)),
        text(&cfg.preset),
    );
}
