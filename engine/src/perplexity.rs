//! Perplexity of a model on a token sequence, by the rule the training script's evaluation
//! uses too (`training/`): the tokens are cut into consecutive non-overlapping windows of `n`
//! (a last partial window is dropped); in every window each token after the first is
//! predicted from its prefix within the window; perplexity is `exp` of the mean negative
//! log-likelihood over all those predictions. Windows are evaluated several at a time as one
//! batch, each in its own cache.

use crate::backend::Backend;
use crate::model::{LogitsWanted, Model, ModelError, SeqBatch};

/// Windows evaluated together in one step.
const WINDOWS_PER_STEP: usize = 4;

/// The negative log-likelihoods of a perplexity run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// Windows evaluated.
    pub windows: usize,
    /// Tokens per window.
    pub window: usize,
    /// Predictions scored (`windows · (window − 1)`).
    pub predictions: usize,
    /// Σ −ln p(token | prefix).
    pub nll_sum: f64,
    /// Σ (−ln p)², for the standard error.
    pub nll_sq_sum: f64,
}

impl Perplexity {
    /// `exp(mean NLL)`.
    pub fn value(&self) -> f64 {
        (self.nll_sum / self.predictions.max(1) as f64).exp()
    }

    /// The standard error of the perplexity, from the NLLs' spread (delta method).
    pub fn std_error(&self) -> f64 {
        let n = self.predictions as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let mean = self.nll_sum / n;
        let var = (self.nll_sq_sum / n - mean * mean).max(0.0) * n / (n - 1.0);
        self.value() * (var / n).sqrt()
    }
}

/// Σ −ln softmax(row)[target] over `rows` (`targets.len()` rows of `vocab` logits), in f64,
/// and the sum of squares.
pub fn nll(logits: &[f32], vocab: usize, targets: &[u32]) -> Result<(f64, f64), ModelError> {
    if logits.len() != targets.len() * vocab {
        return Err(ModelError::Input(format!(
            "{} logits for {} targets of a {vocab}-token vocabulary",
            logits.len(),
            targets.len()
        )));
    }
    let (mut sum, mut sq) = (0f64, 0f64);
    for (row, &t) in logits.chunks_exact(vocab.max(1)).zip(targets) {
        let t = t as usize;
        if t >= vocab {
            return Err(ModelError::Input(format!(
                "token id {t} is outside the vocabulary of {vocab}"
            )));
        }
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let lse = max
            + row
                .iter()
                .map(|&v| (f64::from(v) - max).exp())
                .sum::<f64>()
                .ln();
        let v = lse - f64::from(row[t]);
        if !v.is_finite() {
            return Err(ModelError::Input(format!(
                "the model gave a non-finite log-likelihood ({v}) for token {t}"
            )));
        }
        sum += v;
        sq += v * v;
    }
    Ok((sum, sq))
}

/// Perplexity of `model` on `tokens` in windows of `window` tokens; `progress(done, total)`
/// after each batch of windows.
pub fn evaluate<B: Backend>(
    model: &Model<B>,
    tokens: &[u32],
    window: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Perplexity, ModelError> {
    if window < 2 {
        return Err(ModelError::Input(format!(
            "a window of {window} tokens predicts nothing; use at least 2"
        )));
    }
    if window > model.config.n_ctx_train {
        return Err(ModelError::Input(format!(
            "a window of {window} tokens exceeds the model's context of {}",
            model.config.n_ctx_train
        )));
    }
    let windows = tokens.len() / window;
    if windows == 0 {
        return Err(ModelError::Input(format!(
            "the text has {} tokens, fewer than one window of {window}",
            tokens.len()
        )));
    }
    let vocab = model.config.n_vocab;
    let mut caches = (0..WINDOWS_PER_STEP.min(windows))
        .map(|_| model.new_cache(window))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Perplexity {
        windows,
        window,
        predictions: 0,
        nll_sum: 0.0,
        nll_sq_sum: 0.0,
    };
    let chunks: Vec<&[u32]> = tokens.chunks_exact(window).collect();
    for (done, group) in chunks.chunks(WINDOWS_PER_STEP).enumerate() {
        let mut batch: Vec<SeqBatch<'_, B>> = caches
            .iter_mut()
            .zip(group)
            .map(|(cache, w)| {
                cache.truncate(0);
                SeqBatch {
                    cache,
                    tokens: w,
                    logits: LogitsWanted::All,
                }
            })
            .collect();
        let logits = model.step(&mut batch)?;
        for (rows, w) in logits.iter().zip(group) {
            // Row i predicts token i + 1; the last row predicts past the window.
            let (s, q) = nll(&rows[..(window - 1) * vocab], vocab, &w[1..])?;
            out.nll_sum += s;
            out.nll_sq_sum += q;
            out.predictions += window - 1;
        }
        progress(
            (done * WINDOWS_PER_STEP + group.len()).min(windows),
            windows,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nll_of_known_rows() {
        // Uniform over 4: −ln(1/4) each.
        let (s, q) = nll(&[0.0; 8], 4, &[1, 3]).expect("nll");
        assert!((s - 2.0 * 4f64.ln()).abs() < 1e-12);
        assert!((q - 2.0 * 4f64.ln().powi(2)).abs() < 1e-12);
        // A confident row: logits (0, ln 3) over 2 → p(1) = 3/4.
        let (s, _) = nll(&[0.0, 3f32.ln()], 2, &[1]).expect("nll");
        assert!((s + (0.75f64).ln()).abs() < 1e-6);
        // Huge logits do not overflow.
        let (s, _) = nll(&[1e30, 0.0], 2, &[0]).expect("nll");
        assert_eq!(s, 0.0);
    }

    #[test]
    fn bad_rows_are_errors() {
        assert!(nll(&[0.0; 3], 4, &[0]).is_err());
        assert!(nll(&[0.0; 4], 4, &[4]).is_err());
        assert!(nll(&[f32::NAN, 0.0], 2, &[0]).is_err());
    }

    #[test]
    fn value_and_error() {
        let p = Perplexity {
            windows: 1,
            window: 3,
            predictions: 2,
            nll_sum: 2.0,
            nll_sq_sum: 2.0,
        };
        assert!((p.value() - 1f64.exp()).abs() < 1e-12);
        assert_eq!(p.std_error(), 0.0);
    }
}
