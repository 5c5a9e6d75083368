//! WGSL compute shaders for BitNet b1.58 inference, with their binding layouts
//! described in Rust.
//!
//! The shaders live in `src/*.wgsl` as plain files (syntax highlighting, naga's
//! CLI and diff review all work on them) and are compiled in with
//! `include_str!`. Each one is described by a [`ShaderSource`]: entry point,
//! workgroup size and every binding with its kind, which is what the engine's
//! wgpu glue needs to build bind-group layouts without reading WGSL text. The
//! tests parse and validate every shader with naga and check that this
//! description equals what naga finds, so the two cannot drift apart; the
//! uniform parameter structs are checked field by field the same way.
//!
//! This crate has no wgpu dependency: it only knows sources and layouts.
#![warn(missing_docs)]

/// Which buffer kind a binding is; maps 1:1 onto wgpu's `BufferBindingType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<storage, read>` (`read_only: true`) or `var<storage, read_write>`.
    Storage {
        /// Whether the shader only reads the buffer.
        read_only: bool,
    },
    /// `var<uniform>`: the small parameter struct of a dispatch.
    Uniform,
}

/// One `@group(g) @binding(b)` resource of a shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// `@group` index.
    pub group: u32,
    /// `@binding` index.
    pub binding: u32,
    /// The WGSL variable name (documentation and error messages).
    pub name: &'static str,
    /// Buffer kind and access.
    pub kind: BindingKind,
}

/// Typed id of every shader in this crate, so the engine names shaders by
/// value, never by string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShaderId {
    /// [`I2S_GEMV`].
    I2sGemv,
    /// [`RMS_NORM`].
    RmsNorm,
}

impl ShaderId {
    /// Every shader, for pipeline warm-up and the validation tests.
    pub const ALL: [ShaderId; 2] = [ShaderId::I2sGemv, ShaderId::RmsNorm];

    /// The source and layout of this shader.
    pub fn source(self) -> &'static ShaderSource {
        match self {
            ShaderId::I2sGemv => &I2S_GEMV,
            ShaderId::RmsNorm => &RMS_NORM,
        }
    }
}

/// A shader's WGSL text and the layout facts needed to create its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaderSource {
    /// Typed id.
    pub id: ShaderId,
    /// Short name, used as the wgpu label.
    pub name: &'static str,
    /// The WGSL source.
    pub wgsl: &'static str,
    /// The `@compute` entry point.
    pub entry_point: &'static str,
    /// All resources, in (group, binding) order.
    pub bindings: &'static [Binding],
    /// `@workgroup_size` of the entry point.
    pub workgroup_size: [u32; 3],
}

const fn storage(binding: u32, name: &'static str, read_only: bool) -> Binding {
    Binding {
        group: 0,
        binding,
        name,
        kind: BindingKind::Storage { read_only },
    }
}

const fn uniform(binding: u32, name: &'static str) -> Binding {
    Binding {
        group: 0,
        binding,
        name,
        kind: BindingKind::Uniform,
    }
}

/// Ternary I2_S matrix × int8 vector → f32, one workgroup per output row.
///
/// Bindings: `weights` (the row-major I2_S bytes without the scale trailer,
/// as u32 words; `cols % 128 == 0`), `act` (int8 codes from
/// `quantize_row_i8`, 4 per u32, little-endian), `out` (`rows` f32), and
/// `params` ([`I2sGemvParams`]). Computes
/// `out[r] = (f32(raw_r) − f32(act_sum)) / act_scale · w_scale` with
/// `raw_r = Σ code·q` exactly as the CPU path (code 3 read as weight 0).
/// Dispatch with [`workgroups_for_rows`]. Uses WGSL's `dot4I8Packed`
/// (language extension `packed_4x8_integer_dot_product`).
pub const I2S_GEMV: ShaderSource = ShaderSource {
    id: ShaderId::I2sGemv,
    name: "i2s_gemv",
    wgsl: include_str!("i2s_gemv.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "weights", true),
        storage(1, "act", true),
        storage(2, "out", false),
        uniform(3, "params"),
    ],
    workgroup_size: [64, 1, 1],
};

/// RMS norm with weight, one workgroup per row:
/// `y = x / sqrt(mean(x²) + eps) · weight`.
///
/// Bindings: `x` (`rows × n` f32), `weight` (`n` f32), `y` (`rows × n` f32),
/// `params` ([`RmsNormParams`]). Dispatch with [`workgroups_for_rows`].
pub const RMS_NORM: ShaderSource = ShaderSource {
    id: ShaderId::RmsNorm,
    name: "rms_norm",
    wgsl: include_str!("rms_norm.wgsl"),
    entry_point: "main",
    bindings: &[
        storage(0, "x", true),
        storage(1, "weight", true),
        storage(2, "y", false),
        uniform(3, "params"),
    ],
    workgroup_size: [256, 1, 1],
};

/// Uniform parameters of [`I2S_GEMV`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct I2sGemvParams {
    /// Output rows.
    pub rows: u32,
    /// Input columns (multiple of 128).
    pub cols: u32,
    /// Activation scale `s` from `quantize_row_i8`.
    pub act_scale: f32,
    /// Activation code sum `A = Σq`.
    pub act_sum: i32,
    /// The tensor's I2_S weight scale.
    pub w_scale: f32,
}

impl I2sGemvParams {
    /// The uniform buffer contents (little-endian, as GPUs read them).
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&self.rows.to_le_bytes());
        b[4..8].copy_from_slice(&self.cols.to_le_bytes());
        b[8..12].copy_from_slice(&self.act_scale.to_le_bytes());
        b[12..16].copy_from_slice(&self.act_sum.to_le_bytes());
        b[16..20].copy_from_slice(&self.w_scale.to_le_bytes());
        b
    }
}

/// Uniform parameters of [`RMS_NORM`]; the field order and offsets equal the
/// WGSL `Params` struct (checked by the tests).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsNormParams {
    /// Row length.
    pub n: u32,
    /// Number of rows.
    pub rows: u32,
    /// Epsilon added to the mean square (the model's `rms_norm_eps`).
    pub eps: f32,
}

impl RmsNormParams {
    /// The uniform buffer contents (little-endian, as GPUs read them).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.n.to_le_bytes());
        b[4..8].copy_from_slice(&self.rows.to_le_bytes());
        b[8..12].copy_from_slice(&self.eps.to_le_bytes());
        b
    }
}

/// Most workgroups per dispatch dimension that every wgpu device accepts
/// (`max_compute_workgroups_per_dimension` default).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Workgroup counts for a one-workgroup-per-row shader: rows go in x, and
/// spill into y past [`MAX_WORKGROUPS_PER_DIM`]. The shaders compute
/// `row = wid.x + wid.y · num_workgroups.x` and skip rows `>= rows`, so the few
/// surplus workgroups of the last y slice do nothing.
pub fn workgroups_for_rows(rows: u32) -> [u32; 3] {
    if rows == 0 {
        return [0, 1, 1];
    }
    let x = rows.min(MAX_WORKGROUPS_PER_DIM);
    [x, rows.div_ceil(x), 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    use naga::{AddressSpace, Module, ScalarKind, ShaderStage, StorageAccess, TypeInner};
    use std::mem::{offset_of, size_of};

    fn parse_and_validate(src: &ShaderSource) -> Module {
        let module = naga::front::wgsl::parse_str(src.wgsl)
            .unwrap_or_else(|e| panic!("{}: {}", src.name, e.emit_to_string(src.wgsl)));
        Validator::new(ValidationFlags::all(), Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", src.name, e.emit_to_string(src.wgsl)));
        module
    }

    #[test]
    fn every_shader_validates_and_matches_its_description() {
        for id in ShaderId::ALL {
            let src = id.source();
            assert_eq!(src.id, id);
            let module = parse_and_validate(src);

            assert_eq!(
                module.entry_points.len(),
                1,
                "{}: one entry point",
                src.name
            );
            let ep = &module.entry_points[0];
            assert_eq!(ep.name, src.entry_point, "{}", src.name);
            assert_eq!(ep.stage, ShaderStage::Compute, "{}", src.name);
            assert_eq!(ep.workgroup_size, src.workgroup_size, "{}", src.name);

            let mut found: Vec<(u32, u32, String, BindingKind)> = module
                .global_variables
                .iter()
                .filter_map(|(_, var)| {
                    let rb = var.binding.as_ref()?;
                    let kind = match var.space {
                        AddressSpace::Storage { access } => BindingKind::Storage {
                            read_only: !access.contains(StorageAccess::STORE),
                        },
                        AddressSpace::Uniform => BindingKind::Uniform,
                        other => panic!("{}: unexpected address space {other:?}", src.name),
                    };
                    Some((
                        rb.group,
                        rb.binding,
                        var.name.clone().unwrap_or_default(),
                        kind,
                    ))
                })
                .collect();
            found.sort_by_key(|f| (f.0, f.1));
            let declared: Vec<_> = src
                .bindings
                .iter()
                .map(|b| (b.group, b.binding, b.name.to_owned(), b.kind))
                .collect();
            assert_eq!(found, declared, "{}: bindings", src.name);
        }
    }

    /// (name, byte offset, scalar kind) of each member of the WGSL `Params`.
    fn wgsl_params(module: &Module) -> (Vec<(String, u32, ScalarKind)>, u32) {
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"))
            .expect("struct Params");
        let TypeInner::Struct { members, span } = &ty.inner else {
            panic!("Params is not a struct");
        };
        let fields = members
            .iter()
            .map(|m| {
                let TypeInner::Scalar(s) = module.types[m.ty].inner else {
                    panic!("Params member is not a scalar");
                };
                assert_eq!(s.width, 4);
                (m.name.clone().unwrap_or_default(), m.offset, s.kind)
            })
            .collect();
        (fields, *span)
    }

    fn f(name: &str, offset: usize, kind: ScalarKind) -> (String, u32, ScalarKind) {
        (name.to_owned(), offset as u32, kind)
    }

    #[test]
    fn i2s_gemv_params_match_wgsl() {
        use ScalarKind::{Float, Sint, Uint};
        type P = I2sGemvParams;
        let (fields, span) = wgsl_params(&parse_and_validate(&I2S_GEMV));
        assert_eq!(
            fields,
            [
                f("rows", offset_of!(P, rows), Uint),
                f("cols", offset_of!(P, cols), Uint),
                f("act_scale", offset_of!(P, act_scale), Float),
                f("act_sum", offset_of!(P, act_sum), Sint),
                f("w_scale", offset_of!(P, w_scale), Float),
            ]
        );
        assert_eq!(span as usize, size_of::<P>());
        let p = P {
            rows: 1,
            cols: 256,
            act_scale: 2.5,
            act_sum: -3,
            w_scale: 0.5,
        };
        let b = p.to_bytes();
        assert_eq!(b.len(), size_of::<P>());
        assert_eq!(b[4..8], 256u32.to_le_bytes());
        assert_eq!(b[12..16], (-3i32).to_le_bytes());
        assert_eq!(b[16..20], 0.5f32.to_le_bytes());
    }

    #[test]
    fn rms_norm_params_match_wgsl() {
        use ScalarKind::{Float, Uint};
        type P = RmsNormParams;
        let (fields, span) = wgsl_params(&parse_and_validate(&RMS_NORM));
        assert_eq!(
            fields,
            [
                f("n", offset_of!(P, n), Uint),
                f("rows", offset_of!(P, rows), Uint),
                f("eps", offset_of!(P, eps), Float),
            ]
        );
        assert_eq!(span as usize, size_of::<P>());
        let b = P {
            n: 2560,
            rows: 7,
            eps: 1e-5,
        }
        .to_bytes();
        assert_eq!(b[0..4], 2560u32.to_le_bytes());
        assert_eq!(b[8..12], 1e-5f32.to_le_bytes());
    }

    #[test]
    fn a_broken_shader_is_rejected() {
        // Guards the test itself: validation must actually reject bad WGSL
        // (here an i32 stored into an f32 array).
        let bad = I2S_GEMV
            .wgsl
            .replace("out[row] = (f32(partial[0])", "out[row] = (partial[0]");
        let module = naga::front::wgsl::parse_str(&bad);
        let rejected = match module {
            Err(_) => true,
            Ok(m) => Validator::new(ValidationFlags::all(), Capabilities::all())
                .validate(&m)
                .is_err(),
        };
        assert!(rejected);
    }

    #[test]
    fn workgroups_cover_every_row() {
        assert_eq!(workgroups_for_rows(0), [0, 1, 1]);
        assert_eq!(workgroups_for_rows(1), [1, 1, 1]);
        assert_eq!(workgroups_for_rows(6912), [6912, 1, 1]);
        assert_eq!(workgroups_for_rows(65_535), [65_535, 1, 1]);
        assert_eq!(workgroups_for_rows(65_536), [65_535, 2, 1]);
        for rows in [1u32, 2560, 65_535, 65_536, 128_256, 200_000, 1 << 24] {
            let [x, y, z] = workgroups_for_rows(rows);
            assert!(x <= MAX_WORKGROUPS_PER_DIM && y <= MAX_WORKGROUPS_PER_DIM && z == 1);
            // Covers all rows, and the surplus is less than one y slice.
            assert!(x as u64 * y as u64 >= rows as u64);
            assert!((x as u64 * y as u64) - (rows as u64) < x as u64);
        }
    }
}
