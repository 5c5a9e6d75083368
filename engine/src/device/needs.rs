//! What a model asks of a device: its tensors (sizes in the file, shapes for a GPU's layout)
//! and its KV cache, for a given context and number of concurrent sequences.
//!
//! Plain numbers rather than a loaded model, so devices are checked before anything is
//! uploaded, and tests can state needs by hand.

use crate::gguf::GgufFile;
use crate::model::ModelConfig;

/// One tensor, as device validation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorNeed {
    /// Tensor name, for reports.
    pub name: String,
    /// Rows (the product of every ggml dimension after the first; 1 for a vector).
    pub rows: u64,
    /// Row length (ggml's first dimension).
    pub cols: u64,
    /// A ternary weight (2-bit codes on a GPU) rather than a float one.
    pub ternary: bool,
    /// Bytes in the file, as the CPU uses them.
    pub file_bytes: u64,
    /// Whether a GPU backend holds it on the device. The token embedding is looked up on the
    /// host and goes to the device only when it is also the LM head (no `output.weight`).
    pub on_gpu: bool,
}

impl TensorNeed {
    /// Bytes of one row in the GPU backends' layout (wgpu and CUDA): I2_S codes (4 weights a
    /// byte) for ternary matrices, f16 for float matrices (an int8 head is smaller), f32 for
    /// vectors.
    pub fn gpu_row_bytes(&self) -> u64 {
        if self.ternary {
            self.cols.div_ceil(4)
        } else if self.rows == 1 {
            self.cols * 4
        } else {
            self.cols * 2
        }
    }

    /// Bytes of the whole tensor in the GPU backends' layout.
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu_row_bytes().saturating_mul(self.rows)
    }
}

/// What running a model asks of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelNeeds {
    /// Every tensor of the file.
    pub tensors: Vec<TensorNeed>,
    /// Tokens per sequence the KV cache holds.
    pub context: usize,
    /// Sequences evaluated at once (each with its own KV cache).
    pub sequences: usize,
    /// Bytes of one layer's K (or V) cache for one sequence: f32, `context × kv_dim`. It is
    /// one buffer, never split, so it must fit a device's largest binding.
    pub kv_buffer_bytes: u64,
    /// Bytes of all KV caches: `2 × layers × sequences × kv_buffer_bytes`.
    pub kv_bytes: u64,
    /// Bytes of device memory one step needs besides weights and KV cache (activations,
    /// int8 rows, attention scores, logits) at its largest: a prompt of `context` tokens in
    /// one batch. 0 when unknown ([`ModelNeeds::new`]).
    pub workspace_bytes: u64,
}

impl ModelNeeds {
    /// The needs of `file` (whose hyper-parameters are `config`) for `sequences` sequences of
    /// `context` tokens.
    pub fn from_gguf(
        file: &GgufFile,
        config: &ModelConfig,
        context: usize,
        sequences: usize,
    ) -> Self {
        let tied = file.tensor("output.weight").is_none();
        let tensors = file
            .tensors()
            .iter()
            .map(|t| TensorNeed {
                name: t.name.clone(),
                rows: t.dims.iter().skip(1).product(),
                cols: t.dims.first().copied().unwrap_or(0),
                ternary: t.ty.is_ternary(),
                file_bytes: t.nbytes,
                on_gpu: tied || t.name != "token_embd.weight",
            })
            .collect();
        let mut needs = Self::new(tensors, config.n_layer, config.kv_dim(), context, sequences);
        needs.workspace_bytes = workspace_bytes(config, context);
        needs
    }

    /// Needs from tensors and the KV cache's shape: `layers` layers of `kv_dim`-wide K and V
    /// rows, f32.
    pub fn new(
        tensors: Vec<TensorNeed>,
        layers: usize,
        kv_dim: usize,
        context: usize,
        sequences: usize,
    ) -> Self {
        let kv_buffer_bytes = (context as u64)
            .saturating_mul(kv_dim as u64)
            .saturating_mul(4);
        let kv_bytes = kv_buffer_bytes
            .saturating_mul(2)
            .saturating_mul(layers as u64)
            .saturating_mul(sequences as u64);
        ModelNeeds {
            tensors,
            context,
            sequences,
            kv_buffer_bytes,
            kv_bytes,
            workspace_bytes: 0,
        }
    }

    /// Bytes of all weights as the file stores them (what the CPU backend maps).
    pub fn weight_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.file_bytes).sum()
    }

    /// Bytes of the weights a GPU backend holds on the device.
    pub fn gpu_weight_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.on_gpu)
            .map(TensorNeed::gpu_bytes)
            .sum()
    }

    /// The largest tensor a GPU backend holds, by its bytes there.
    pub fn largest_gpu_tensor(&self) -> Option<&TensorNeed> {
        self.tensors
            .iter()
            .filter(|t| t.on_gpu)
            .max_by_key(|t| t.gpu_bytes())
    }
}

/// Device bytes of one step of `tokens` tokens of one sequence from an empty cache (the
/// graph's buffers in `Model::forward`): f32 rows of the residual, norm, Q, attention
/// output (4 × n_embd), K and V (2 × kv_dim) and the FFN's gate, up and normed rows
/// (3 × n_ff); int8 rows with their scale and sum for n_embd and n_ff; the attention
/// scores of the chunk (`tokens × n_head × tokens` f32); one row of logits.
pub fn workspace_bytes(config: &ModelConfig, tokens: usize) -> u64 {
    let t = tokens as u64;
    let (d, kvd, ff) = (
        config.n_embd as u64,
        config.kv_dim() as u64,
        config.n_ff as u64,
    );
    let f32_rows = t.saturating_mul(4 * d + 2 * kvd + 3 * ff).saturating_mul(4);
    let int8_rows = t.saturating_mul(d + ff + 2 * 8);
    let scores = t
        .saturating_mul(t)
        .saturating_mul(config.n_head as u64)
        .saturating_mul(4);
    let logits = (config.n_vocab as u64).saturating_mul(4);
    f32_rows
        .saturating_add(int8_rows)
        .saturating_add(scores)
        .saturating_add(logits)
}

/// `n` bytes for people: B, KiB, MiB or GiB.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let x = n as f64;
    if x < K {
        format!("{n} B")
    } else if x < K * K {
        format!("{:.1} KiB", x / K)
    } else if x < K * K * K {
        format!("{:.1} MiB", x / (K * K))
    } else {
        format!("{:.2} GiB", x / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, rows: u64, cols: u64, ternary: bool) -> TensorNeed {
        TensorNeed {
            name: name.into(),
            rows,
            cols,
            ternary,
            file_bytes: rows * cols,
            on_gpu: true,
        }
    }

    #[test]
    fn gpu_layout_is_2_bits_ternary_f16_float_f32_vectors() {
        assert_eq!(t("q", 2560, 2560, true).gpu_bytes(), 2560 * 640);
        assert_eq!(t("embd", 128_256, 2560, false).gpu_bytes(), 656_670_720);
        assert_eq!(t("norm", 1, 2560, false).gpu_bytes(), 2560 * 4);
    }

    #[test]
    fn kv_cache_is_f32_k_and_v_per_layer_per_sequence() {
        let n = ModelNeeds::new(vec![t("a", 4, 8, false)], 30, 640, 4096, 2);
        assert_eq!(n.kv_buffer_bytes, 4096 * 640 * 4);
        assert_eq!(n.kv_bytes, 2 * 30 * 2 * 4096 * 640 * 4);
        assert_eq!(n.weight_bytes(), 32);
    }

    #[test]
    fn an_untied_embedding_stays_off_the_gpu() {
        let mut embd = t("token_embd.weight", 1000, 64, false);
        embd.on_gpu = false;
        let n = ModelNeeds::new(vec![embd, t("output.weight", 500, 64, false)], 1, 8, 16, 1);
        assert_eq!(n.gpu_weight_bytes(), 500 * 64 * 2);
        assert_eq!(
            n.largest_gpu_tensor().map(|t| t.name.as_str()),
            Some("output.weight")
        );
        assert_eq!(n.weight_bytes(), 1500 * 64);
    }

    #[test]
    fn workspace_counts_step_buffers_scores_and_one_logits_row() {
        use crate::model::Architecture;
        let cfg = ModelConfig {
            arch_name: "bitnet-b1.58".into(),
            arch: Architecture::from_name("bitnet-b1.58").expect("known"),
            n_embd: 2560,
            n_layer: 30,
            n_ff: 6912,
            n_head: 20,
            n_kv_head: 5,
            head_dim: 128,
            n_rot: 128,
            rope_theta: 500_000.0,
            rms_eps: 1e-5,
            n_ctx_train: 4096,
            n_vocab: 128_256,
        };
        let one = workspace_bytes(&cfg, 1);
        let per_token_f32 = (4 * 2560 + 2 * 640 + 3 * 6912) * 4;
        assert_eq!(
            one,
            per_token_f32 + (2560 + 6912 + 16) + 20 * 4 + 128_256 * 4
        );
        // Scores grow with the square of the prompt: 4096 tokens need about 1.9 GiB.
        let full = workspace_bytes(&cfg, 4096);
        assert!(full > 4096 * 4096 * 20 * 4 && full < 2 << 30, "{full}");
        assert_eq!(ModelNeeds::new(vec![], 30, 640, 4096, 1).workspace_bytes, 0);
    }

    #[test]
    fn bytes_print_in_the_largest_whole_unit() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(128 << 20), "128.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
    }
}
