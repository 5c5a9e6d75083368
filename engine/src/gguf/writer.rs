//! The GGUF v3 writer.

use super::{DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufError, GgufValue};
use crate::formats::{TensorType, tensor_nbytes};
use std::io::Write;
use std::path::Path;

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: TensorType,
    nbytes: u64,
    data: Option<Vec<u8>>,
}

/// Builds a GGUF file: metadata in insertion order, tensors in insertion order, each tensor
/// aligned to `general.alignment` (32 unless set).
///
/// Tensor data can be given up front ([`GgufWriter::add_tensor`]) or produced one tensor at a
/// time while writing ([`GgufWriter::add_tensor_info`] + [`GgufWriter::write_with`]), so a
/// multi-gigabyte model never has to sit in memory at once.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<PendingTensor>,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a metadata key.
    pub fn add_kv(&mut self, key: impl Into<String>, value: GgufValue) -> &mut Self {
        let key = key.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Adds a tensor with its data; the data length must match the type's size rule.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: TensorType,
        data: Vec<u8>,
    ) -> Result<&mut Self, GgufError> {
        let name = name.into();
        let nbytes = self.check(&name, dims, ty)?;
        if data.len() as u64 != nbytes {
            return Err(GgufError::Write(format!(
                "tensor '{name}': {} bytes given, {ty} {dims:?} needs {nbytes}",
                data.len()
            )));
        }
        self.tensors.push(PendingTensor {
            name,
            dims: dims.to_vec(),
            ty,
            nbytes,
            data: Some(data),
        });
        Ok(self)
    }

    /// Declares a tensor whose data [`GgufWriter::write_with`] will ask for later.
    pub fn add_tensor_info(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: TensorType,
    ) -> Result<&mut Self, GgufError> {
        let name = name.into();
        let nbytes = self.check(&name, dims, ty)?;
        self.tensors.push(PendingTensor {
            name,
            dims: dims.to_vec(),
            ty,
            nbytes,
            data: None,
        });
        Ok(self)
    }

    fn check(&self, name: &str, dims: &[u64], ty: TensorType) -> Result<u64, GgufError> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::Write(format!("duplicate tensor name '{name}'")));
        }
        if dims.len() > 4 {
            return Err(GgufError::Write(format!(
                "tensor '{name}' has {} dims (max 4)",
                dims.len()
            )));
        }
        tensor_nbytes(ty, dims).map_err(|source| GgufError::Tensor {
            name: name.to_string(),
            offset: 0,
            source,
        })
    }

    fn alignment(&self) -> Result<u64, GgufError> {
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, GgufValue::U32(a))) if *a != 0 && a.is_power_of_two() => Ok(u64::from(*a)),
            Some(_) => Err(GgufError::Write(
                "general.alignment must be a nonzero power of two u32".into(),
            )),
        }
    }

    /// Writes the file, with every tensor's data given up front.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        self.write_file_with(path, |name| {
            Err(GgufError::Write(format!("no data for tensor '{name}'")))
        })
    }

    /// Writes the file; tensors declared without data are produced by `data(name)` in order.
    pub fn write_file_with(
        &self,
        path: impl AsRef<Path>,
        data: impl FnMut(&str) -> Result<Vec<u8>, GgufError>,
    ) -> Result<(), GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        self.write_with(&mut w, data)?;
        w.flush().map_err(io)
    }

    /// Serialises to any writer; see [`GgufWriter::write_file_with`].
    pub fn write_with(
        &self,
        w: &mut impl Write,
        mut data: impl FnMut(&str) -> Result<Vec<u8>, GgufError>,
    ) -> Result<(), GgufError> {
        let align = self.alignment()?;
        let mut out = CountingWriter {
            inner: w,
            written: 0,
        };
        out.put(&GGUF_MAGIC)?;
        out.put(&3u32.to_le_bytes())?;
        out.put(&(self.tensors.len() as u64).to_le_bytes())?;
        out.put(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in &self.metadata {
            out.string(key)?;
            out.put(&(value.value_type() as u32).to_le_bytes())?;
            out.value(value)?;
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            out.string(&t.name)?;
            out.put(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                out.put(&d.to_le_bytes())?;
            }
            out.put(&t.ty.id().to_le_bytes())?;
            out.put(&offset.to_le_bytes())?;
            offset = (offset + t.nbytes).div_ceil(align) * align;
        }
        out.pad_to(align)?;
        for t in &self.tensors {
            let produced;
            let bytes: &[u8] = match &t.data {
                Some(d) => d,
                None => {
                    produced = data(&t.name)?;
                    if produced.len() as u64 != t.nbytes {
                        return Err(GgufError::Write(format!(
                            "tensor '{}': producer gave {} bytes, expected {}",
                            t.name,
                            produced.len(),
                            t.nbytes
                        )));
                    }
                    &produced
                }
            };
            out.put(bytes)?;
            out.pad_to(align)?;
        }
        Ok(())
    }
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> CountingWriter<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), GgufError> {
        self.inner
            .write_all(bytes)
            .map_err(|e| GgufError::Write(format!("I/O error at byte {}: {e}", self.written)))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, align: u64) -> Result<(), GgufError> {
        let pad = self.written.div_ceil(align) * align - self.written;
        self.put(&vec![0u8; pad as usize])
    }

    fn string(&mut self, s: &str) -> Result<(), GgufError> {
        self.put(&(s.len() as u64).to_le_bytes())?;
        self.put(s.as_bytes())
    }

    fn value(&mut self, v: &GgufValue) -> Result<(), GgufError> {
        use GgufValue as V;
        match v {
            V::U8(x) => self.put(&[*x]),
            V::I8(x) => self.put(&x.to_le_bytes()),
            V::U16(x) => self.put(&x.to_le_bytes()),
            V::I16(x) => self.put(&x.to_le_bytes()),
            V::U32(x) => self.put(&x.to_le_bytes()),
            V::I32(x) => self.put(&x.to_le_bytes()),
            V::F32(x) => self.put(&x.to_le_bytes()),
            V::Bool(x) => self.put(&[u8::from(*x)]),
            V::String(s) => self.string(s),
            V::U64(x) => self.put(&x.to_le_bytes()),
            V::I64(x) => self.put(&x.to_le_bytes()),
            V::F64(x) => self.put(&x.to_le_bytes()),
            V::Array(elem, items) => {
                if let Some(bad) = items.iter().find(|i| i.value_type() != *elem) {
                    return Err(GgufError::Write(format!(
                        "array declared as {elem:?} holds a {}",
                        bad.type_name()
                    )));
                }
                self.put(&(*elem as u32).to_le_bytes())?;
                self.put(&(items.len() as u64).to_le_bytes())?;
                items.iter().try_for_each(|i| self.value(i))
            }
        }
    }
}
