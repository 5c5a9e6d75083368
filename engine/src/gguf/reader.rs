//! The validating GGUF reader.

use super::{DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufError, GgufValue, GgufValueType};
use crate::formats::{TensorType, tensor_nbytes};
use memmap2::Mmap;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

/// ggml's GGML_MAX_DIMS: a tensor with more dimensions is corrupt.
const MAX_DIMS: u32 = 4;
/// Nesting limit for arrays of arrays; deeper nesting only serves to exhaust the stack.
const MAX_ARRAY_DEPTH: u32 = 8;

/// The bytes behind a file: a read-only map for real files, a vector for in-memory parsing.
enum Storage {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// One entry of the tensor-info table, validated against the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order (ne0 = row length first).
    pub dims: Vec<u64>,
    /// The element type (bitnet types resolved by architecture).
    pub ty: TensorType,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes, per the type's own size rule.
    pub nbytes: u64,
    /// Byte offset of this tensor's info record in the file (for error messages).
    pub info_offset: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A tensor's bytes, shared with the file's memory map (no copy).
#[derive(Clone)]
pub struct TensorData {
    storage: Arc<Storage>,
    start: usize,
    len: usize,
}

impl Deref for TensorData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl std::fmt::Debug for TensorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TensorData({} bytes at {})", self.len, self.start)
    }
}

impl TensorData {
    /// Wraps owned bytes (tensors built in memory rather than read from a file).
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let len = bytes.len();
        TensorData {
            storage: Arc::new(Storage::Owned(bytes)),
            start: 0,
            len,
        }
    }
}

/// A parsed GGUF file. Metadata is decoded eagerly; tensor data stays in the map.
pub struct GgufFile {
    storage: Arc<Storage>,
    /// Format version (2 or 3).
    pub version: u32,
    metadata: Vec<(String, GgufValue)>,
    meta_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    /// Alignment of the data section and of every tensor offset.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Maps and parses a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; a model file changed underneath a running process is
        // outside what any mmap-based loader (llama.cpp included) can defend against.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Self::parse(Storage::Mapped(map))
    }

    /// Parses a file held in memory (tests, fuzzing, files received over the network).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        Self::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<Self, GgufError> {
        let storage = Arc::new(storage);
        let mut c = Cursor {
            buf: &storage,
            pos: 0,
        };
        let magic: [u8; 4] = c.array(|| "magic".into())?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32(|| "version".into())?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::BadVersion(version));
        }
        let n_tensors = c.u64(|| "tensor count".into())?;
        let n_kv = c.u64(|| "metadata count".into())?;
        // Minimum encoded sizes: a kv is ≥ 13 bytes, a tensor info ≥ 24 bytes.
        c.check_count(|| "metadata count".into(), n_kv, 13)?;

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut meta_index = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let at = c.pos;
            let key = c.string(&|| format!("metadata key #{i}"))?;
            let tag = c.u32(|| format!("type of key '{key}'"))?;
            let ty = GgufValueType::from_u32(tag).ok_or_else(|| {
                c.invalid(
                    &format!("key '{key}'"),
                    at,
                    format!("unknown value type {tag}"),
                )
            })?;
            let value = c.value(&key, ty, 0)?;
            if meta_index.insert(key.clone(), metadata.len()).is_some() {
                return Err(c.invalid(&format!("key '{key}'"), at, "duplicate key".into()));
            }
            metadata.push((key, value));
        }

        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, GgufValue::U32(a))) if *a != 0 && a.is_power_of_two() => u64::from(*a),
            Some((_, v)) => {
                return Err(GgufError::Invalid {
                    what: "general.alignment".into(),
                    offset: 0,
                    why: format!(
                        "must be a nonzero power of two as u32, got {} {v}",
                        v.type_name()
                    ),
                });
            }
        };
        let bitnet_arch = metadata
            .iter()
            .find(|(k, _)| k == "general.architecture")
            .and_then(|(_, v)| v.as_str())
            .is_some_and(|a| a.starts_with("bitnet"));

        c.check_count(|| "tensor count".into(), n_tensors, 24)?;
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let info_offset = c.pos as u64;
            let name = c.string(&|| format!("tensor #{i} name"))?;
            let n_dims = c.u32(|| format!("tensor '{name}' n_dims"))?;
            if n_dims > MAX_DIMS {
                return Err(c.invalid(
                    &format!("tensor '{name}'"),
                    info_offset as usize,
                    format!("{n_dims} dimensions (at most {MAX_DIMS})"),
                ));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for d in 0..n_dims {
                dims.push(c.u64(|| format!("tensor '{name}' dim {d}"))?);
            }
            let type_id = c.u32(|| format!("tensor '{name}' type"))?;
            let offset = c.u64(|| format!("tensor '{name}' offset"))?;
            let tensor_err = |source| GgufError::Tensor {
                name: name.clone(),
                offset: info_offset,
                source,
            };
            let ty = TensorType::from_id(type_id, bitnet_arch).map_err(tensor_err)?;
            let nbytes = tensor_nbytes(ty, &dims).map_err(tensor_err)?;
            if !offset.is_multiple_of(alignment) {
                return Err(c.invalid(
                    &format!("tensor '{name}'"),
                    info_offset as usize,
                    format!("data offset {offset} is not a multiple of the alignment {alignment}"),
                ));
            }
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(c.invalid(
                    &format!("tensor '{name}'"),
                    info_offset as usize,
                    "duplicate tensor name".into(),
                ));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset,
                nbytes,
                info_offset,
            });
        }

        let file_len = storage.len() as u64;
        let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
        if data_offset > file_len && !tensors.is_empty() {
            return Err(GgufError::Truncated {
                what: "tensor data section".into(),
                offset: data_offset,
                need: 1,
                len: file_len,
            });
        }
        let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            let range_err = |start, end, why| GgufError::TensorRange {
                name: t.name.clone(),
                start,
                end,
                len: file_len,
                why,
            };
            let start = data_offset
                .checked_add(t.offset)
                .ok_or_else(|| range_err(u64::MAX, u64::MAX, "overflows"))?;
            let end = start
                .checked_add(t.nbytes)
                .ok_or_else(|| range_err(start, u64::MAX, "overflows"))?;
            if end > file_len {
                return Err(range_err(start, end, "runs past the end of the file"));
            }
            ranges.push((start, end, i));
        }
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.0 < a.1 {
                return Err(GgufError::TensorRange {
                    name: tensors[b.2].name.clone(),
                    start: b.0,
                    end: b.1,
                    len: file_len,
                    why: "overlaps another tensor's data",
                });
            }
        }

        Ok(GgufFile {
            storage,
            version,
            metadata,
            meta_index,
            tensors,
            tensor_index,
            alignment,
            data_offset,
        })
    }

    /// All metadata in file order.
    pub fn metadata(&self) -> &[(String, GgufValue)] {
        &self.metadata
    }

    /// One metadata value.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// `general.architecture`, when present and a string.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(GgufValue::as_str)
    }

    /// The tensor-info table in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// One tensor's info by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// A tensor's bytes (range validated at parse time).
    pub fn tensor_data(&self, info: &TensorInfo) -> TensorData {
        TensorData {
            storage: self.storage.clone(),
            start: (self.data_offset + info.offset) as usize,
            len: info.nbytes as usize,
        }
    }

    /// Total file size in bytes.
    pub fn file_len(&self) -> u64 {
        self.storage.len() as u64
    }
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn truncated(&self, what: &str, need: u64) -> GgufError {
        GgufError::Truncated {
            what: what.to_string(),
            offset: self.pos as u64,
            need,
            len: self.buf.len() as u64,
        }
    }

    fn invalid(&self, what: &str, at: usize, why: String) -> GgufError {
        GgufError::Invalid {
            what: what.to_string(),
            offset: at as u64,
            why,
        }
    }

    fn take(&mut self, what: impl FnOnce() -> String, n: u64) -> Result<&[u8], GgufError> {
        if n > self.remaining() {
            return Err(self.truncated(&what(), n));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N as u64)?);
        Ok(out)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Rejects a count whose minimal encoding could not fit in the rest of the file, before
    /// anything is allocated for it.
    fn check_count(
        &self,
        what: impl FnOnce() -> String,
        count: u64,
        min_each: u64,
    ) -> Result<(), GgufError> {
        match count.checked_mul(min_each) {
            Some(n) if n <= self.remaining() => Ok(()),
            _ => Err(self.truncated(
                &format!("{} {count}", what()),
                count.saturating_mul(min_each),
            )),
        }
    }

    /// Reads a string. `what` is only called on the error path: metadata holds hundreds of
    /// thousands of strings (a 128k vocabulary and its merges), and formatting a description
    /// for each one cost more than reading them.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(|| format!("{} (string length)", what()))?;
        let at = self.pos;
        let bytes = self.take(|| format!("{} (string of {len} bytes)", what()), len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(self.invalid(&what(), at, format!("string is not valid UTF-8 ({e})"))),
        }
    }

    fn value(&mut self, key: &str, ty: GgufValueType, depth: u32) -> Result<GgufValue, GgufError> {
        use GgufValueType as T;
        let what = || format!("value of key '{key}'");
        Ok(match ty {
            T::U8 => GgufValue::U8(self.array::<1>(what)?[0]),
            T::I8 => GgufValue::I8(i8::from_le_bytes(self.array(what)?)),
            T::U16 => GgufValue::U16(u16::from_le_bytes(self.array(what)?)),
            T::I16 => GgufValue::I16(i16::from_le_bytes(self.array(what)?)),
            T::U32 => GgufValue::U32(u32::from_le_bytes(self.array(what)?)),
            T::I32 => GgufValue::I32(i32::from_le_bytes(self.array(what)?)),
            T::F32 => GgufValue::F32(f32::from_le_bytes(self.array(what)?)),
            T::U64 => GgufValue::U64(u64::from_le_bytes(self.array(what)?)),
            T::I64 => GgufValue::I64(i64::from_le_bytes(self.array(what)?)),
            T::F64 => GgufValue::F64(f64::from_le_bytes(self.array(what)?)),
            T::Bool => {
                let at = self.pos;
                match self.array::<1>(what)?[0] {
                    0 => GgufValue::Bool(false),
                    1 => GgufValue::Bool(true),
                    b => {
                        return Err(self.invalid(
                            &what(),
                            at,
                            format!("bool byte is {b}, not 0 or 1"),
                        ));
                    }
                }
            }
            T::String => GgufValue::String(self.string(&what)?),
            T::Array => {
                let at = self.pos;
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.invalid(
                        &what(),
                        at,
                        format!("arrays nested deeper than {MAX_ARRAY_DEPTH}"),
                    ));
                }
                let tag = self.u32(|| format!("element type of key '{key}'"))?;
                let elem = GgufValueType::from_u32(tag).ok_or_else(|| {
                    self.invalid(&what(), at, format!("unknown array element type {tag}"))
                })?;
                let n = self.u64(|| format!("array length of key '{key}'"))?;
                // Strings need ≥ 8 bytes each (their length), nested arrays ≥ 12.
                let min_each = elem
                    .scalar_size()
                    .unwrap_or(if elem == T::String { 8 } else { 12 });
                self.check_count(|| format!("array of key '{key}' with length"), n, min_each)?;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(key, elem, depth + 1)?);
                }
                GgufValue::Array(elem, items)
            }
        })
    }
}
