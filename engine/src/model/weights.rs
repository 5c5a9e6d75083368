//! Loading the named tensors of a BitNet GGUF onto a backend.

use super::{Architecture, ModelConfig, ModelError};
use crate::backend::{Backend, WeightSource};
use crate::formats::{TensorType, TlConfig, TlTiles, dequantize_row, resolve_tiles};
use crate::gguf::{GgufFile, TensorInfo};

/// A linear layer: the weight and the optional `*.scale` multiplier of the `bitnet` arch.
pub struct Linear<B: Backend> {
    /// The weight, `[out, in]`.
    pub weight: B::Weight,
    /// Multiplier applied after the matmul (`blk.N.<name>.scale`), if the file has one.
    pub scale: Option<f32>,
    /// Output rows (M).
    pub out_dim: usize,
}

/// One transformer block.
#[allow(missing_docs)]
pub struct LayerWeights<B: Backend> {
    pub attn_norm: B::Buf,
    pub attn_q: Linear<B>,
    pub attn_k: Linear<B>,
    pub attn_v: Linear<B>,
    pub attn_sub_norm: B::Buf,
    pub attn_output: Linear<B>,
    pub ffn_norm: B::Buf,
    pub ffn_gate: Linear<B>,
    pub ffn_up: Linear<B>,
    pub ffn_sub_norm: B::Buf,
    pub ffn_down: Linear<B>,
}

/// All weights of a model, resident on the backend.
pub struct ModelWeights<B: Backend> {
    /// `token_embd.weight`, `[n_vocab, n_embd]`.
    pub token_embd: B::Weight,
    /// `output.weight` when the file has a separate LM head; otherwise the embedding is tied.
    pub output: Option<B::Weight>,
    /// `output_norm.weight`.
    pub output_norm: B::Buf,
    /// The blocks.
    pub layers: Vec<LayerWeights<B>>,
}

impl<B: Backend> ModelWeights<B> {
    /// Uploads every tensor the graph uses, checking each shape against `cfg`.
    ///
    /// TL1/TL2 weights are read with the tile parameters the file records, else those of
    /// `user_tl` (a kernel_config.ini), else bitnet.cpp's presets for the shape.
    pub fn load(
        file: &GgufFile,
        cfg: &ModelConfig,
        backend: &B,
        user_tl: Option<&TlConfig>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self, ModelError> {
        let file_tl = TlConfig::from_gguf(file).map_err(|e| ModelError::BadKey {
            key: "bitnet_rs.tl_config".into(),
            why: e.to_string(),
        })?;
        let loader = Loader {
            file,
            backend,
            file_tl,
            user_tl,
        };
        let (d, ff, kv, v) = (cfg.n_embd, cfg.n_ff, cfg.kv_dim(), cfg.n_vocab);
        let token_embd = loader.matrix("token_embd.weight", d, v)?;
        // llama.cpp's `bitnet` graph always uses token_embd as the LM head; bitnet-b1.58 files
        // never carry output.weight. Honour it when present, as the HF graph would.
        let output = match file.tensor("output.weight") {
            Some(_) => Some(loader.matrix("output.weight", d, v)?),
            None => None,
        };
        let output_norm = loader.vector("output_norm.weight", d)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            progress(i, cfg.n_layer);
            let n = |s: &str| format!("blk.{i}.{s}");
            let lin = |s: &str, k: usize, m: usize| loader.linear(&n(s), k, m, cfg.arch);
            layers.push(LayerWeights {
                attn_norm: loader.vector(&n("attn_norm.weight"), d)?,
                attn_q: lin("attn_q", d, d)?,
                attn_k: lin("attn_k", d, kv)?,
                attn_v: lin("attn_v", d, kv)?,
                attn_sub_norm: loader.vector(&n("attn_sub_norm.weight"), d)?,
                attn_output: lin("attn_output", d, d)?,
                ffn_norm: loader.vector(&n("ffn_norm.weight"), d)?,
                ffn_gate: lin("ffn_gate", d, ff)?,
                ffn_up: lin("ffn_up", d, ff)?,
                ffn_sub_norm: loader.vector(&n("ffn_sub_norm.weight"), ff)?,
                ffn_down: lin("ffn_down", ff, d)?,
            });
        }
        progress(cfg.n_layer, cfg.n_layer);
        Ok(ModelWeights {
            token_embd,
            output,
            output_norm,
            layers,
        })
    }
}

struct Loader<'a, B> {
    file: &'a GgufFile,
    backend: &'a B,
    file_tl: Option<TlConfig>,
    user_tl: Option<&'a TlConfig>,
}

impl<B: Backend> Loader<'_, B> {
    fn info(&self, name: &str) -> Result<&TensorInfo, ModelError> {
        self.file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    fn shape(&self, info: &TensorInfo, expected: &[u64]) -> Result<(), ModelError> {
        if info.dims != expected {
            return Err(ModelError::TensorShape {
                name: info.name.clone(),
                got: info.dims.clone(),
                expected: expected.to_vec(),
            });
        }
        Ok(())
    }

    /// A `[k, m]` (ggml order) matrix.
    fn matrix(&self, name: &str, k: usize, m: usize) -> Result<B::Weight, ModelError> {
        let info = self.info(name)?;
        self.shape(info, &[k as u64, m as u64])?;
        let src = WeightSource {
            name,
            ty: info.ty,
            dims: [k, m],
            data: self.file.tensor_data(info),
            tiles: self.tiles(name, info.ty, m, k)?,
        };
        Ok(self.backend.upload_weight(&src)?)
    }

    /// The tile parameters of a TL1/TL2 weight (`None` for other types).
    fn tiles(
        &self,
        name: &str,
        ty: TensorType,
        m: usize,
        k: usize,
    ) -> Result<Option<TlTiles>, ModelError> {
        if !matches!(ty, TensorType::TL1 | TensorType::TL2) {
            return Ok(None);
        }
        resolve_tiles(self.file_tl.as_ref(), self.user_tl, ty, m, k)
            .map(Some)
            .ok_or_else(|| ModelError::TensorType {
                name: name.to_string(),
                why: format!(
                    "{ty} weight of {m}×{k}: the file records no tile parameters for this \
                     shape and bitnet.cpp has no preset for it; pass the kernel_config.ini it \
                     was converted with (--tl-config)"
                ),
            })
    }

    fn linear(
        &self,
        base: &str,
        k: usize,
        m: usize,
        arch: Architecture,
    ) -> Result<Linear<B>, ModelError> {
        let weight = self.matrix(&format!("{base}.weight"), k, m)?;
        let scale_name = format!("{base}.scale");
        let scale = match (arch, self.file.tensor(&scale_name)) {
            (Architecture::Bitnet, Some(info)) => Some(self.scalar(info)?),
            (Architecture::BitnetB158, Some(_)) => {
                return Err(ModelError::TensorType {
                    name: scale_name,
                    why: "per-tensor scale tensors belong to the `bitnet` architecture; bitnet-b1.58 keeps the scale inside the ternary tensor".into(),
                });
            }
            (_, None) => None,
        };
        Ok(Linear {
            weight,
            scale,
            out_dim: m,
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<B::Buf, ModelError> {
        let info = self.info(name)?;
        self.shape(info, &[len as u64])?;
        let values = self.floats(info, len)?;
        Ok(self.backend.upload(&values)?)
    }

    fn scalar(&self, info: &TensorInfo) -> Result<f32, ModelError> {
        if info.n_elements() != 1 {
            return Err(ModelError::TensorShape {
                name: info.name.clone(),
                got: info.dims.clone(),
                expected: vec![1],
            });
        }
        Ok(self.floats(info, 1)?[0])
    }

    fn floats(&self, info: &TensorInfo, len: usize) -> Result<Vec<f32>, ModelError> {
        if !matches!(
            info.ty,
            TensorType::F32 | TensorType::F16 | TensorType::BF16
        ) {
            return Err(ModelError::TensorType {
                name: info.name.clone(),
                why: format!("type {} where F32/F16/BF16 is required", info.ty),
            });
        }
        let mut out = vec![0f32; len];
        dequantize_row(info.ty, &self.file.tensor_data(info), &mut out).map_err(|e| {
            ModelError::TensorType {
                name: info.name.clone(),
                why: e.to_string(),
            }
        })?;
        Ok(out)
    }
}
