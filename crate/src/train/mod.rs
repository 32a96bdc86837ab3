//! Training the MemeCLIP head on cached features (spec §2.1): AdamW, mean cross-entropy, constant
//! learning rate, model selection per epoch.

pub mod adamw;
pub mod metrics;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::data::features::{Features, Split};
use crate::error::{Error, Result};
use crate::head::MemeClipHead;
use metrics::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Select {
    /// Best proper AUROC on the validation split (the sound choice).
    Val,
    /// Best per-batch AUROC on the test split, as the official code does.
    Test,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainOptions {
    pub task: String,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub select: Select,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// The score that selects the model, from `val` or `test` as `select` says.
    pub selection_auroc: f64,
    pub val: Option<Report>,
    pub test: Option<Report>,
}

/// Row indices and labels of one task, by split; rows without a label are left out.
pub struct TaskRows {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    pub labels: Vec<i64>,
    pub classes: usize,
}

impl TaskRows {
    pub fn new(features: &Features, task: &str, classes: usize) -> Result<Self> {
        let labels = features.labels.get(task).ok_or_else(|| {
            Error::Invalid(format!(
                "the features have no labels for task `{task}` (they have: {})",
                features
                    .labels
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if let Some((row, &bad)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l >= classes as i64)
        {
            return Err(Error::Invalid(format!(
                "row {row} ({}): label {bad} is outside the task's {classes} classes",
                features.names[row]
            )));
        }
        let pick = |split: Split| -> Vec<usize> {
            (0..features.len())
                .filter(|&i| features.split[i] == split && labels[i] >= 0)
                .collect()
        };
        Ok(TaskRows {
            train: pick(Split::Train),
            val: pick(Split::Val),
            test: pick(Split::Test),
            labels: labels.clone(),
            classes,
        })
    }
}

fn batch_tensors(features: &Features, rows: &[usize], device: &Device) -> (Tensor<2>, Tensor<2>) {
    let mut image = Vec::with_capacity(rows.len() * features.image_dim);
    let mut text = Vec::with_capacity(rows.len() * features.text_dim);
    for &r in rows {
        image.extend_from_slice(features.image_row(r));
        text.extend_from_slice(features.text_row(r));
    }
    (
        Tensor::from_data(
            TensorData::new(image, [rows.len(), features.image_dim]),
            device,
        ),
        Tensor::from_data(
            TensorData::new(text, [rows.len(), features.text_dim]),
            device,
        ),
    )
}

/// Logits for the given rows, in batches, with dropout off.
pub fn predict(
    head: &MemeClipHead,
    features: &Features,
    rows: &[usize],
    batch: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch.max(1)) {
        let (image, text) = batch_tensors(features, chunk, device);
        out.extend(crate::pipeline::rows(head.forward(image, text))?);
    }
    Ok(out)
}

fn report(
    head: &MemeClipHead,
    features: &Features,
    task: &TaskRows,
    rows: &[usize],
    device: &Device,
) -> Result<Option<Report>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let logits = predict(head, features, rows, 16, device)?;
    let labels: Vec<usize> = rows.iter().map(|&r| task.labels[r] as usize).collect();
    // The official code evaluates in batches of 16 whatever the training batch.
    Ok(Some(metrics::evaluate(&logits, &labels, task.classes, 16)))
}

pub struct Trained {
    /// The selected head, without autodiff.
    pub best: MemeClipHead,
    pub best_epoch: usize,
    pub history: Vec<EpochRecord>,
}

/// Trains `head` (created on an autodiff device and already SAI-initialized). `on_step` is told
/// the epoch and the running mean loss after each step; `on_epoch` gets each finished epoch.
pub fn train(
    mut head: MemeClipHead,
    features: &Features,
    task: &TaskRows,
    options: &TrainOptions,
    device: &Device,
    mut on_step: impl FnMut(usize, f64),
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<Trained> {
    if task.train.is_empty() {
        return Err(Error::Invalid(format!(
            "task `{}` has no labelled training rows",
            options.task
        )));
    }
    let selection_rows = match options.select {
        Select::Val => &task.val,
        Select::Test => &task.test,
    };
    if selection_rows.is_empty() {
        return Err(Error::Invalid(format!(
            "no labelled {:?} rows to select the model on (try --select {})",
            options.select,
            if options.select == Select::Val {
                "test"
            } else {
                "val"
            }
        )));
    }
    let eval_device = device.clone().inner();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optimizer = adamw::optimizer(
        adamw::AdamWSettings::new(1e-8, options.weight_decay as f32),
        device,
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let mut order = task.train.clone();
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, MemeClipHead)> = None;
    for epoch in 1..=options.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0, 0);
        for chunk in order.chunks(options.batch.max(1)) {
            let (image, text) = batch_tensors(features, chunk, device);
            let labels: Vec<i64> = chunk.iter().map(|&r| task.labels[r]).collect();
            let targets =
                Tensor::<1, Int>::from_data(TensorData::new(labels, [chunk.len()]), device);
            let loss = loss_fn.forward(head.forward(image, text), targets);
            let value = loss
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| Error::Backend(format!("{e:?}")))?[0];
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optimizer.step(options.lr, head, grads);
            loss_sum += value as f64 * chunk.len() as f64;
            seen += chunk.len();
            on_step(epoch, loss_sum / seen as f64);
        }
        let current = head.valid();
        let val = report(&current, features, task, &task.val, &eval_device)?;
        let test = report(&current, features, task, &task.test, &eval_device)?;
        let selection_auroc = match options.select {
            Select::Val => val.as_ref().map(|r| r.proper.auroc),
            Select::Test => test.as_ref().map(|r| r.code_faithful.auroc),
        }
        .unwrap_or(f64::NAN);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            selection_auroc,
            val,
            test,
        };
        on_epoch(&record);
        history.push(record);
        if best
            .as_ref()
            .is_none_or(|(score, _, _)| selection_auroc > *score)
        {
            best = Some((selection_auroc, epoch, current));
        }
    }
    let (_, best_epoch, best) =
        best.ok_or_else(|| Error::Invalid("--epochs must be at least 1".into()))?;
    Ok(Trained {
        best,
        best_epoch,
        history,
    })
}
