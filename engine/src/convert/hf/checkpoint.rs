//! A Hugging Face checkpoint directory: its safetensors files, memory-mapped and indexed by
//! tensor name.

use super::super::ConvertError;
use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, Metadata};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct ShardFile {
    path: PathBuf,
    map: Mmap,
    /// Bytes before the tensor data: the 8-byte length and the JSON header.
    data_start: usize,
    meta: Metadata,
}

/// Every tensor of every `*.safetensors` file in a directory.
pub(crate) struct Checkpoint {
    files: Vec<ShardFile>,
    names: BTreeMap<String, usize>,
}

/// One tensor's type, shape and bytes.
pub(crate) struct TensorRef<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub data: &'a [u8],
}

impl Checkpoint {
    /// Maps and indexes the directory's safetensors files (a single file or shards).
    pub(crate) fn open(dir: &Path) -> Result<Checkpoint, ConvertError> {
        let io = |path: &Path, source| ConvertError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(ConvertError::Invalid(format!(
                "{} holds no *.safetensors file",
                dir.display()
            )));
        }
        let mut files = Vec::new();
        let mut names = BTreeMap::new();
        for path in paths {
            let file = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
            // SAFETY: the map is read-only and lives as long as the checkpoint; a file changed
            // underneath it is the same hazard every mmap-based reader accepts.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| io(&path, e))?;
            let (header_len, meta) = SafeTensors::read_metadata(&map).map_err(|e| {
                ConvertError::Invalid(format!(
                    "{}: not a valid safetensors file: {e}",
                    path.display()
                ))
            })?;
            for name in meta.tensors().keys() {
                if names.insert(name.clone(), files.len()).is_some() {
                    return Err(ConvertError::Invalid(format!(
                        "tensor '{name}' appears in two safetensors files ({})",
                        path.display()
                    )));
                }
            }
            files.push(ShardFile {
                path,
                map,
                data_start: 8 + header_len,
                meta,
            });
        }
        Ok(Checkpoint { files, names })
    }

    /// All tensor names, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Whether the checkpoint has this tensor.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// A tensor by name; its byte range was validated when the file was indexed.
    pub(crate) fn tensor(&self, name: &str) -> Result<TensorRef<'_>, ConvertError> {
        let missing = || ConvertError::Invalid(format!("the checkpoint has no tensor '{name}'"));
        let (key, &i) = self.names.get_key_value(name).ok_or_else(missing)?;
        let f = &self.files[i];
        let info = f.meta.info(name).ok_or_else(missing)?;
        let (start, end) = info.data_offsets;
        let data = f
            .map
            .get(f.data_start + start..f.data_start + end)
            .ok_or_else(|| {
                ConvertError::Invalid(format!(
                    "{}: tensor '{name}' lies outside the file",
                    f.path.display()
                ))
            })?;
        Ok(TensorRef {
            name: key,
            dtype: info.dtype,
            shape: &info.shape,
            data,
        })
    }
}

impl TensorRef<'_> {
    /// Checks the shape.
    pub(crate) fn expect_shape(&self, want: &[usize]) -> Result<(), ConvertError> {
        if self.shape != want {
            return Err(ConvertError::Invalid(format!(
                "tensor '{}' has shape {:?}, the config implies {want:?}",
                self.name, self.shape
            )));
        }
        Ok(())
    }

    /// The values as f32, for float dtypes.
    pub(crate) fn to_f32(&self) -> Result<Vec<f32>, ConvertError> {
        let d = self.data;
        Ok(match self.dtype {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(ConvertError::Invalid(format!(
                    "tensor '{}' is {other:?}; a float (F32, F16, BF16) is expected",
                    self.name
                )));
            }
        })
    }

    /// Rounds `v` to this tensor's float dtype (what casting a computed value back to the
    /// checkpoint's dtype gives).
    pub(crate) fn round_to_dtype(&self, v: f32) -> f32 {
        match self.dtype {
            Dtype::F16 => f16::from_f32(v).to_f32(),
            Dtype::BF16 => bf16::from_f32(v).to_f32(),
            _ => v,
        }
    }
}
