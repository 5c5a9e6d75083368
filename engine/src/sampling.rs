//! Choosing the next token from logits, and cutting generation at stop strings.
//!
//! The filter chain follows llama.cpp's default order so that the same settings give the same
//! behaviour users know from there: repetition penalty → top-k → top-p → min-p → temperature →
//! softmax → draw. Greedy decoding (temperature ≤ 0) still applies the penalty, because the
//! penalty changes which token is the maximum.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;

/// What went wrong while sampling.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// The logits slice was empty.
    #[error("cannot sample from empty logits")]
    EmptyLogits,
    /// Every logit was NaN or −∞, so no token has any probability.
    #[error("all {len} logits are NaN or -inf; nothing can be sampled")]
    NoFiniteLogits {
        /// Number of logits given.
        len: usize,
    },
    /// More logits than token ids can name.
    #[error("{len} logits do not fit in u32 token ids")]
    TooManyLogits {
        /// Number of logits given.
        len: usize,
    },
    /// A [`SamplerConfig`] field is outside its valid range.
    #[error("invalid sampler setting {field} = {value}: {expected}")]
    InvalidConfig {
        /// The field's name.
        field: &'static str,
        /// The offending value, as text.
        value: String,
        /// The valid range.
        expected: &'static str,
    },
}

/// Sampling settings.
///
/// [`Default`] gives llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05,
/// no repetition penalty (1.0) over a window of 64 tokens, seed 0. The seed is fixed rather
/// than random so that a run is reproducible unless the caller asks otherwise; a server that
/// wants varied answers passes a fresh seed per request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// Divides the logits before the softmax; ≤ 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 turns the filter off.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability sums to at least `top_p`
    /// (always at least one token); 1 turns the filter off. Valid range (0, 1].
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 turns the filter
    /// off. Valid range [0, 1].
    pub min_p: f32,
    /// Divides positive logits (multiplies negative ones) of tokens seen in the last
    /// `repeat_last_n` history tokens; 1 turns the penalty off. Must be > 0.
    pub repeat_penalty: f32,
    /// How many of the most recent history tokens the penalty looks at; 0 turns it off.
    pub repeat_last_n: usize,
    /// Seed of the sampler's random generator.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Greedy decoding: always the most likely token, no penalty.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks every field's range; [`Sampler::sample`] calls this too, but a server can call
    /// it when it parses a request so that a bad setting is reported before generation.
    pub fn validate(&self) -> Result<(), SamplingError> {
        let bad = |field, value: f32, expected| {
            Err(SamplingError::InvalidConfig {
                field,
                value: value.to_string(),
                expected,
            })
        };
        if self.temperature.is_nan() {
            return bad(
                "temperature",
                self.temperature,
                "a number (≤ 0 means greedy)",
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", self.top_p, "in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", self.min_p, "in [0, 1]");
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return bad("repeat_penalty", self.repeat_penalty, "finite and > 0");
        }
        Ok(())
    }
}

/// A token candidate: its id and its current logit.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: u32,
    logit: f32,
}

/// Most likely first; equal logits keep the lower id first so that results never depend on
/// the sort algorithm.
fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Samples token ids from logits with a seeded generator: the same seed and the same
/// sequence of logits and histories give the same tokens (within one build of `rand`, whose
/// `StdRng` algorithm may change between its versions).
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
    rng: StdRng,
    // Reused between calls so that sampling a 128k vocabulary does not allocate per token.
    candidates: Vec<Candidate>,
}

impl Sampler {
    /// Whether every pick is [`greedy_pick`] of the logits alone (temperature 0, no
    /// repetition penalty), so a device may choose the token and return only it.
    pub fn is_plain_greedy(&self) -> bool {
        self.cfg.temperature <= 0.0 && self.cfg.repeat_penalty == 1.0
    }

    /// A sampler seeded from `cfg.seed`. Settings are checked by [`Sampler::sample`].
    pub fn new(cfg: SamplerConfig) -> Self {
        let rng = StdRng::seed_from_u64(cfg.seed);
        Self {
            cfg,
            rng,
            candidates: Vec::new(),
        }
    }

    /// The settings this sampler was built with.
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Picks the next token.
    ///
    /// `history` is the sequence so far (prompt and generated tokens), oldest first; only its
    /// last `repeat_last_n` entries matter. History ids outside the logits are ignored since
    /// there is nothing to penalise. NaN and −∞ logits never win; +∞ counts as the largest
    /// finite value.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SamplingError> {
        self.cfg.validate()?;
        if logits.is_empty() {
            return Err(SamplingError::EmptyLogits);
        }
        if u32::try_from(logits.len()).is_err() {
            return Err(SamplingError::TooManyLogits { len: logits.len() });
        }
        let cfg = &self.cfg;
        let cands = &mut self.candidates;
        cands.clear();
        cands.extend(logits.iter().enumerate().filter_map(|(i, &l)| {
            // `i` fits in u32: checked above.
            let id = i as u32;
            if l.is_nan() || l == f32::NEG_INFINITY {
                None
            } else {
                Some(Candidate {
                    id,
                    logit: l.min(f32::MAX),
                })
            }
        }));
        if cands.is_empty() {
            return Err(SamplingError::NoFiniteLogits { len: logits.len() });
        }

        apply_repeat_penalty(
            cands,
            logits.len(),
            history,
            cfg.repeat_penalty,
            cfg.repeat_last_n,
        );

        if cfg.temperature <= 0.0 {
            // Every filter below keeps the most likely token, so greedy can skip them.
            let best = cands.iter().copied().min_by(by_logit_desc);
            return best
                .map(|c| c.id)
                .ok_or(SamplingError::NoFiniteLogits { len: logits.len() });
        }

        top_k(cands, cfg.top_k, cfg.top_p < 1.0);
        top_p(cands, cfg.top_p);
        min_p(cands, cfg.min_p);
        Ok(draw(cands, cfg.temperature, &mut self.rng))
    }
}

/// Applies llama.cpp's repetition penalty: each distinct token in the window is penalised
/// once, however often it occurs.
fn apply_repeat_penalty(
    cands: &mut [Candidate],
    n_vocab: usize,
    history: &[u32],
    penalty: f32,
    last_n: usize,
) {
    if penalty == 1.0 || last_n == 0 || history.is_empty() {
        return;
    }
    let window = &history[history.len().saturating_sub(last_n)..];
    let mut seen = vec![false; n_vocab];
    for &id in window {
        if let Some(slot) = seen.get_mut(id as usize) {
            *slot = true;
        }
    }
    for c in cands.iter_mut().filter(|c| seen[c.id as usize]) {
        // Dividing a negative logit would raise it; multiplying always lowers it.
        c.logit = if c.logit > 0.0 {
            c.logit / penalty
        } else {
            c.logit * penalty
        };
    }
}

/// Keeps the `k` most likely candidates (all when `k` is 0). Afterwards the most likely
/// candidate is first, and the whole list is sorted when `k` > 0 or `sort` is set (top-p
/// needs the order; the later steps only need the maximum).
fn top_k(cands: &mut Vec<Candidate>, k: usize, sort: bool) {
    if k > 0 && k < cands.len() {
        // Partition first: sorting a 128k vocabulary to keep 40 tokens is wasted work.
        cands.select_nth_unstable_by(k - 1, by_logit_desc);
        cands.truncate(k);
    }
    if k > 0 || sort {
        cands.sort_unstable_by(by_logit_desc);
    } else if let Some(best) = cands
        .iter()
        .enumerate()
        .min_by(|a, b| by_logit_desc(a.1, b.1))
        .map(|(i, _)| i)
    {
        cands.swap(0, best);
    }
}

/// Softmax at temperature 1 of sorted candidates (most likely first), as llama.cpp's top-p
/// sees them.
fn probabilities(cands: &[Candidate]) -> Vec<f64> {
    let max = cands.first().map_or(0.0, |c| f64::from(c.logit));
    let mut p: Vec<f64> = cands
        .iter()
        .map(|c| (f64::from(c.logit) - max).exp())
        .collect();
    let sum: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// Keeps the smallest prefix of the sorted candidates whose probability reaches `p`.
fn top_p(cands: &mut Vec<Candidate>, p: f32) {
    if p >= 1.0 {
        return;
    }
    let probs = probabilities(cands);
    let mut cum = 0.0;
    let mut keep = cands.len();
    for (i, &q) in probs.iter().enumerate() {
        cum += q;
        if cum >= f64::from(p) {
            keep = i + 1;
            break;
        }
    }
    cands.truncate(keep.max(1));
}

/// Drops candidates whose probability is below `min_p` times the largest. Compared on logits
/// (`l ≥ l_max + ln min_p`) because the normalisation cancels out.
fn min_p(cands: &mut Vec<Candidate>, min_p: f32) {
    if min_p <= 0.0 {
        return;
    }
    let Some(max) = cands.first().map(|c| f64::from(c.logit)) else {
        return;
    };
    let threshold = max + f64::from(min_p).ln();
    // The first candidate is the maximum and always passes, so at least one survives.
    cands.retain(|c| f64::from(c.logit) >= threshold);
}

/// Temperature, softmax and one draw from the sorted candidates.
fn draw(cands: &[Candidate], temperature: f32, rng: &mut StdRng) -> u32 {
    let max = cands.first().map_or(0.0, |c| f64::from(c.logit));
    let t = f64::from(temperature);
    // Subtracting the maximum before dividing keeps a huge logit at a tiny temperature from
    // overflowing to infinity.
    let weights: Vec<f64> = cands
        .iter()
        .map(|c| ((f64::from(c.logit) - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random::<f64>() * total;
    for (c, w) in cands.iter().zip(&weights) {
        if r < *w {
            return c.id;
        }
        r -= w;
    }
    // Rounding can leave `r` a hair above the last weight; the last candidate with any weight
    // is then the right answer. The first candidate has weight 1, so one always exists.
    cands
        .iter()
        .zip(&weights)
        .rev()
        .find(|(_, w)| **w > 0.0)
        .map_or(0, |(c, _)| c.id)
}

/// The token [`Sampler::sample`] picks greedily (temperature 0, no repetition penalty): the
/// largest logit with NaN and −∞ never winning, +∞ counted as the largest finite value, the
/// lowest id on ties. `None` when nothing qualifies or the slice is longer than u32 ids can
/// name. Backends reproduce this rule on the device ([`crate::backend::Backend::argmax_rows`]).
pub fn greedy_pick(logits: &[f32]) -> Option<u32> {
    u32::try_from(logits.len()).ok()?;
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() || l == f32::NEG_INFINITY {
            continue;
        }
        let l = l.min(f32::MAX);
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// Index of the largest logit, the first one on ties; NaN never wins. `None` when the slice is
/// empty, entirely NaN, or longer than u32 ids can name.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    u32::try_from(logits.len()).ok()?;
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// What [`StopMatcher::push`] lets through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopOutput {
    /// Text that is safe to show now.
    pub text: String,
    /// A stop string was completed: `text` ends just before it and generation should end.
    pub stopped: bool,
}

/// Cuts generated text at the first stop string.
///
/// Text arrives in pieces (one detokenized token at a time) and a stop string may be split
/// across pieces, so the matcher holds back any tail that could still grow into a stop string
/// and releases it once it cannot. The stop string itself is never emitted.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for these stop strings; empty strings are ignored (they would match at once).
    pub fn new<I, S>(stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stops = stops
            .into_iter()
            .map(Into::into)
            .filter(|s: &String| !s.is_empty())
            .collect();
        Self {
            stops,
            held: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string has matched; later pushes then emit nothing.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds one piece of generated text and returns what can be shown now.
    pub fn push(&mut self, piece: &str) -> StopOutput {
        if self.stopped {
            return StopOutput {
                text: String::new(),
                stopped: true,
            };
        }
        self.held.push_str(piece);
        // Text already released could not start a stop string, so the earliest match lies
        // in `held`.
        let first_match = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_match {
            self.held.truncate(at);
            self.stopped = true;
            return StopOutput {
                text: std::mem::take(&mut self.held),
                stopped: true,
            };
        }
        let keep = self.longest_partial_suffix();
        let tail = self.held.split_off(self.held.len() - keep);
        StopOutput {
            text: std::mem::replace(&mut self.held, tail),
            stopped: false,
        }
    }

    /// Ends the stream: returns any held-back text (nothing after a stop).
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of `held` that is a proper prefix of some stop string.
    /// Such a suffix always starts on a char boundary, since a stop string cannot begin with a
    /// UTF-8 continuation byte.
    fn longest_partial_suffix(&self) -> usize {
        let held = self.held.as_bytes();
        self.stops
            .iter()
            .map(|s| {
                let s = s.as_bytes();
                let max = (s.len() - 1).min(held.len());
                (1..=max)
                    .rev()
                    .find(|&n| held[held.len() - n..] == s[..n])
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A sampler that keeps whatever survives the filters and reports the surviving ids, so
    /// each filter's exact effect can be checked.
    fn survivors(cfg: &SamplerConfig, logits: &[f32], history: &[u32]) -> Vec<u32> {
        let mut cands: Vec<Candidate> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| Candidate {
                id: i as u32,
                logit: l,
            })
            .collect();
        apply_repeat_penalty(
            &mut cands,
            logits.len(),
            history,
            cfg.repeat_penalty,
            cfg.repeat_last_n,
        );
        top_k(&mut cands, cfg.top_k, cfg.top_p < 1.0);
        top_p(&mut cands, cfg.top_p);
        min_p(&mut cands, cfg.min_p);
        let mut ids: Vec<u32> = cands.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids
    }

    fn off() -> SamplerConfig {
        SamplerConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 7,
        }
    }

    /// Logits whose softmax is exactly `probs` (up to rounding).
    fn logits_for(probs: &[f64]) -> Vec<f32> {
        probs.iter().map(|p| p.ln() as f32).collect()
    }

    #[test]
    fn greedy_pick_is_the_greedy_samplers_choice() {
        let mut sampler = Sampler::new(SamplerConfig::greedy());
        assert!(sampler.is_plain_greedy());
        let specials = [
            f32::NAN,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::MAX,
            -0.0,
            0.0,
        ];
        let mut s = 7u64;
        for round in 0..500 {
            let len = 1 + round % 40;
            let logits: Vec<f32> = (0..len)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    if s.is_multiple_of(5) {
                        specials[(s >> 8) as usize % specials.len()]
                    } else {
                        ((s >> 40) % 7) as f32 - 3.0
                    }
                })
                .collect();
            assert_eq!(
                greedy_pick(&logits),
                sampler.sample(&logits, &[]).ok(),
                "{logits:?}"
            );
        }
        assert_eq!(greedy_pick(&[f32::NAN, f32::NEG_INFINITY]), None);
        assert_eq!(greedy_pick(&[f32::MAX, f32::INFINITY]), Some(0));
    }

    #[test]
    fn argmax_first_max_and_nan_safe() {
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), None);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0, f32::NAN, 0.5]), Some(3));
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), Some(0));
        assert_eq!(argmax(&[0.0, f32::INFINITY, 1.0]), Some(1));
    }

    #[test]
    fn errors_for_empty_and_all_nan() {
        let mut s = Sampler::new(SamplerConfig::default());
        assert_eq!(s.sample(&[], &[]), Err(SamplingError::EmptyLogits));
        assert_eq!(
            s.sample(&[f32::NAN; 3], &[]),
            Err(SamplingError::NoFiniteLogits { len: 3 })
        );
        let mut g = Sampler::new(SamplerConfig::greedy());
        assert_eq!(
            g.sample(&[f32::NAN, f32::NEG_INFINITY], &[]),
            Err(SamplingError::NoFiniteLogits { len: 2 })
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        for cfg in [
            SamplerConfig {
                top_p: 0.0,
                ..off()
            },
            SamplerConfig {
                top_p: 1.5,
                ..off()
            },
            SamplerConfig {
                min_p: -0.1,
                ..off()
            },
            SamplerConfig {
                min_p: f32::NAN,
                ..off()
            },
            SamplerConfig {
                repeat_penalty: 0.0,
                ..off()
            },
            SamplerConfig {
                temperature: f32::NAN,
                ..off()
            },
        ] {
            let err = Sampler::new(cfg.clone()).sample(&[1.0, 2.0], &[]);
            assert!(
                matches!(err, Err(SamplingError::InvalidConfig { .. })),
                "{cfg:?} gave {err:?}"
            );
        }
        assert_eq!(SamplerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn nan_and_neg_inf_never_sampled() {
        let logits = [f32::NAN, 0.0, f32::NEG_INFINITY, 0.0, f32::NAN];
        let mut s = Sampler::new(off());
        for _ in 0..200 {
            let id = s.sample(&logits, &[]).expect("finite logits exist");
            assert!(id == 1 || id == 3, "{id}");
        }
        let mut inf = Sampler::new(off());
        assert_eq!(inf.sample(&[0.0, f32::INFINITY, 5.0], &[]), Ok(1));
    }

    #[test]
    fn top_k_keeps_exact_set() {
        let logits = [1.0, 5.0, 3.0, 4.0, 2.0, 0.0];
        assert_eq!(
            survivors(&SamplerConfig { top_k: 3, ..off() }, &logits, &[]),
            vec![1, 2, 3]
        );
        assert_eq!(
            survivors(&SamplerConfig { top_k: 1, ..off() }, &logits, &[]),
            vec![1]
        );
        assert_eq!(
            survivors(&SamplerConfig { top_k: 0, ..off() }, &logits, &[]),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            survivors(&SamplerConfig { top_k: 99, ..off() }, &logits, &[]),
            vec![0, 1, 2, 3, 4, 5]
        );
        // Ties at the cut keep the lower id.
        assert_eq!(
            survivors(
                &SamplerConfig { top_k: 2, ..off() },
                &[2.0, 1.0, 2.0, 2.0],
                &[]
            ),
            vec![0, 2]
        );
    }

    #[test]
    fn top_p_keeps_smallest_reaching_set() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 at ids 2, 0, 3, 1.
        let logits = logits_for(&[0.3, 0.05, 0.5, 0.15]);
        let set = |p| survivors(&SamplerConfig { top_p: p, ..off() }, &logits, &[]);
        assert_eq!(set(0.4), vec![2]);
        assert_eq!(set(0.5), vec![2]);
        assert_eq!(set(0.7), vec![0, 2]);
        assert_eq!(set(0.9), vec![0, 2, 3]);
        assert_eq!(set(0.99), vec![0, 1, 2, 3]);
        assert_eq!(set(0.01), vec![2], "always keeps one");
        // After top-k the probabilities are renormalised over the survivors, as in llama.cpp:
        // 0.5/0.8 = 0.625 < 0.7, so both survivors stay.
        let cfg = SamplerConfig {
            top_k: 2,
            top_p: 0.7,
            ..off()
        };
        assert_eq!(survivors(&cfg, &logits, &[]), vec![0, 2]);
        let cfg = SamplerConfig {
            top_k: 2,
            top_p: 0.6,
            ..off()
        };
        assert_eq!(survivors(&cfg, &logits, &[]), vec![2]);
    }

    #[test]
    fn min_p_drops_relative_to_max() {
        // p_max = 0.5: min_p 0.2 keeps p ≥ 0.1, min_p 0.5 keeps p ≥ 0.25.
        let logits = logits_for(&[0.3, 0.05, 0.5, 0.15]);
        let set = |m| survivors(&SamplerConfig { min_p: m, ..off() }, &logits, &[]);
        assert_eq!(set(0.2), vec![0, 2, 3]);
        assert_eq!(set(0.5), vec![0, 2]);
        assert_eq!(set(1.0), vec![2]);
        assert_eq!(set(0.0), vec![0, 1, 2, 3]);
    }

    #[test]
    fn repeat_penalty_divides_positive_multiplies_negative() {
        let mut cands: Vec<Candidate> = [2.0f32, -2.0, 3.0, 1.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| Candidate {
                id: i as u32,
                logit: l,
            })
            .collect();
        // Ids 0 and 1 are in the window; id 2 only before it; 9 is out of range.
        apply_repeat_penalty(&mut cands, 4, &[2, 2, 0, 1, 9, 0], 2.0, 4);
        let got: Vec<f32> = cands.iter().map(|c| c.logit).collect();
        assert_eq!(got, vec![1.0, -4.0, 3.0, 1.0]);
        // A window of 0 or a penalty of 1 changes nothing.
        let before: Vec<f32> = cands.iter().map(|c| c.logit).collect();
        apply_repeat_penalty(&mut cands, 4, &[0, 1], 2.0, 0);
        apply_repeat_penalty(&mut cands, 4, &[0, 1], 1.0, 4);
        assert_eq!(cands.iter().map(|c| c.logit).collect::<Vec<_>>(), before);
    }

    #[test]
    fn greedy_applies_penalty() {
        let logits = [3.0, 2.0, 0.5];
        let mut plain = Sampler::new(SamplerConfig::greedy());
        assert_eq!(plain.sample(&logits, &[0]), Ok(0));
        let mut penalised = Sampler::new(SamplerConfig {
            repeat_penalty: 2.0,
            ..SamplerConfig::greedy()
        });
        assert_eq!(penalised.sample(&logits, &[0]), Ok(1));
        assert_eq!(penalised.sample(&logits, &[5, 5]), Ok(0));
        // Ties: the first maximum.
        assert_eq!(plain.sample(&[1.0, 4.0, 4.0], &[]), Ok(1));
    }

    #[test]
    fn same_seed_same_tokens_different_seeds_differ() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |seed| {
            let mut s = Sampler::new(SamplerConfig {
                seed,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                ..Default::default()
            });
            (0..64)
                .map(|_| s.sample(&logits, &[]).expect("valid logits"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn distribution_matches_probabilities() {
        let logits = logits_for(&[0.75, 0.25]);
        let mut s = Sampler::new(SamplerConfig { seed: 42, ..off() });
        let n = 4000;
        let zeros = (0..n).filter(|_| s.sample(&logits, &[]) == Ok(0)).count();
        // Expected 3000, standard deviation ≈ 27; ±150 is over 5σ.
        assert!((2850..=3150).contains(&zeros), "{zeros} of {n}");
        // Temperature 0.5 squares the odds: 9:1.
        let mut hot = Sampler::new(SamplerConfig {
            seed: 43,
            temperature: 0.5,
            ..off()
        });
        let zeros = (0..n).filter(|_| hot.sample(&logits, &[]) == Ok(0)).count();
        assert!((3450..=3750).contains(&zeros), "{zeros} of {n}");
    }

    #[test]
    fn default_is_documented_values() {
        let d = SamplerConfig::default();
        assert_eq!(
            (d.temperature, d.top_k, d.top_p, d.min_p),
            (0.8, 40, 0.95, 0.05)
        );
        assert_eq!((d.repeat_penalty, d.repeat_last_n, d.seed), (1.0, 64, 0));
    }

    proptest! {
        #[test]
        fn sampled_id_in_range_and_in_top_k(
            logits in prop::collection::vec(-20.0f32..20.0, 1..200),
            top_k in 0usize..10,
            top_p in 0.05f32..=1.0,
            min_p in 0.0f32..=1.0,
            temperature in -0.5f32..3.0,
            seed: u64,
        ) {
            let cfg = SamplerConfig { temperature, top_k, top_p, min_p, repeat_penalty: 1.0, repeat_last_n: 0, seed };
            let mut s = Sampler::new(cfg);
            let id = s.sample(&logits, &[]).expect("finite logits") as usize;
            prop_assert!(id < logits.len());
            if top_k > 0 && top_k <= logits.len() {
                let mut sorted = logits.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                prop_assert!(logits[id] >= sorted[top_k - 1], "id {} logit {} below k-th {}", id, logits[id], sorted[top_k - 1]);
            }
        }
    }

    fn run_stops(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let mut m = StopMatcher::new(stops.iter().copied());
        let mut out = Vec::new();
        let mut stopped = false;
        for p in pieces {
            let o = m.push(p);
            out.push(o.text);
            if o.stopped {
                stopped = true;
                break;
            }
        }
        (out, stopped, m.flush())
    }

    #[test]
    fn stop_string_split_across_pieces() {
        let (out, stopped, rest) = run_stops(&["</s>"], &["Hello <", "/", "s> world"]);
        assert_eq!(out, vec!["Hello ", "", ""]);
        assert!(stopped);
        assert_eq!(rest, "");
    }

    #[test]
    fn false_start_is_released() {
        let (out, stopped, rest) = run_stops(&["</s>"], &["a <", "/x", " b"]);
        assert_eq!(out, vec!["a ", "</x", " b"]);
        assert!(!stopped);
        assert_eq!(rest, "");
        // Held text at the end of the stream comes out of flush.
        let (out, stopped, rest) = run_stops(&["STOP"], &["go ST", "O"]);
        assert_eq!(out, vec!["go ", ""]);
        assert!(!stopped);
        assert_eq!(rest, "STO");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (out, stopped, _) = run_stops(&["world", "lo w"], &["hel", "lo wor", "ld"]);
        assert_eq!(out.concat(), "hel");
        assert!(stopped);
        // A stop inside one piece: text before it, nothing after.
        let (out, stopped, _) = run_stops(&["\n\n"], &["one\n\ntwo"]);
        assert_eq!(out, vec!["one"]);
        assert!(stopped);
    }

    #[test]
    fn overlapping_prefix_restarts() {
        // "aab" must be found even though the first "a" started a failed partial match.
        let (out, stopped, _) = run_stops(&["aab"], &["a", "a", "a", "b", "c"]);
        assert_eq!(out.concat(), "a");
        assert!(stopped);
    }

    #[test]
    fn multibyte_stop_and_text() {
        let (out, stopped, _) = run_stops(&["終了"], &["こんにちは終", "了です"]);
        assert_eq!(out.concat(), "こんにちは");
        assert!(stopped);
        let mut m = StopMatcher::new(["終了"]);
        assert_eq!(m.push("終わり").text, "終わり");
    }

    #[test]
    fn after_stop_nothing_more_and_no_stops_passes_through() {
        let mut m = StopMatcher::new(["x"]);
        assert!(m.push("ax").stopped);
        assert!(m.is_stopped());
        assert_eq!(
            m.push("more"),
            StopOutput {
                text: String::new(),
                stopped: true
            }
        );
        let mut none = StopMatcher::new(Vec::<String>::new());
        assert_eq!(none.push("any text").text, "any text");
        let mut empty = StopMatcher::new([""]);
        assert_eq!(
            empty.push("abc"),
            StopOutput {
                text: "abc".into(),
                stopped: false
            }
        );
    }

    proptest! {
        #[test]
        fn stop_matcher_equals_whole_text_search(
            text in "[ab<>/s ]{0,40}",
            cuts in prop::collection::vec(0usize..40, 0..8),
        ) {
            let stop = "</s>";
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= text.len()).collect();
            cuts.sort_unstable();
            let mut m = StopMatcher::new([stop]);
            let mut got = String::new();
            let mut stopped = false;
            let mut prev = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                let o = m.push(&text[prev..c]);
                got.push_str(&o.text);
                prev = c;
                if o.stopped { stopped = true; break; }
            }
            got.push_str(&m.flush());
            match text.find(stop) {
                Some(at) => { prop_assert!(stopped); prop_assert_eq!(&got, &text[..at]); }
                None => { prop_assert!(!stopped); prop_assert_eq!(&got, &text); }
            }
        }
    }
}
