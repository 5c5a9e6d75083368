//! naga validation of every shader, and its description and Params against what naga finds.

use super::*;
use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, Module, ScalarKind, ShaderStage, StorageAccess, TypeInner};
use std::mem::{offset_of, size_of};

/// What wgpu grants a device that requests no optional features: only
/// the f16-in-f32 functions (`unpack2x16float`), which wgpu enables on
/// every Vulkan, Metal and DX12 adapter (downlevel flag
/// `SHADER_F16_IN_F32`). Validating with this set makes a shader that
/// needs f16, subgroups or the like fail here rather than on some user's
/// adapter.
const BASELINE: Capabilities = Capabilities::SHADER_FLOAT16_IN_FLOAT32;

fn parse_and_validate(src: &ShaderSource) -> Module {
    let module = naga::front::wgsl::parse_str(src.wgsl)
        .unwrap_or_else(|e| panic!("{}: {}", src.name, e.emit_to_string(src.wgsl)));
    Validator::new(ValidationFlags::all(), BASELINE)
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

#[test]
fn every_shader_follows_the_binding_conventions() {
    let mut names = Vec::new();
    for id in ShaderId::ALL {
        let src = id.source();
        names.push(src.name);
        assert_eq!(src.entry_point, "main", "{}", src.name);
        // The host builds layouts from the binding index alone: group 0,
        // indices 0.., and the uniform Params last.
        for (i, b) in src.bindings.iter().enumerate() {
            assert_eq!((b.group, b.binding), (0, i as u32), "{}", src.name);
            let last = i + 1 == src.bindings.len();
            assert_eq!(b.kind == BindingKind::Uniform, last, "{}", src.name);
        }
        assert_eq!(src.bindings.last().map(|b| b.name), Some("params"));

        let module = parse_and_validate(src);
        let (_, params) = module
            .global_variables
            .iter()
            .find(|(_, v)| v.space == AddressSpace::Uniform)
            .expect("a uniform");
        assert_eq!(
            module.types[params.ty].name.as_deref(),
            Some("Params"),
            "{}",
            src.name
        );
        assert!(
            !src.wgsl
                .lines()
                .any(|l| l.trim_start().starts_with("enable")),
            "{}: no enable directives",
            src.name
        );
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ShaderId::ALL.len(), "shader names are unique");
}

/// WebGPU's default limits, which every adapter meets: 256 invocations and
/// 16 KiB of workgroup memory per workgroup.
#[test]
fn every_shader_fits_the_default_limits() {
    for id in ShaderId::ALL {
        let src = id.source();
        let module = parse_and_validate(src);
        let [x, y, z] = src.workgroup_size;
        assert!(x * y * z <= 256, "{}: workgroup size", src.name);
        let shared: u32 = module
            .global_variables
            .iter()
            .filter(|(_, v)| v.space == AddressSpace::WorkGroup)
            .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
            .sum();
        assert!(shared <= 16_384, "{}: {shared} bytes shared", src.name);
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

/// The WGSL scalar kind of a Params field's Rust type.
trait Scalar {
    const KIND: ScalarKind;
}
impl Scalar for u32 {
    const KIND: ScalarKind = ScalarKind::Uint;
}
impl Scalar for i32 {
    const KIND: ScalarKind = ScalarKind::Sint;
}
impl Scalar for f32 {
    const KIND: ScalarKind = ScalarKind::Float;
}
fn kind_of<T: Scalar>(_: &T) -> ScalarKind {
    T::KIND
}

/// Checks a Params struct against its shader's WGSL `Params`: the same
/// field names in the same order at the same offsets with the same scalar
/// kinds and the same size, and `to_bytes` putting each field's
/// little-endian bytes at its offset, zero-padded to 16 bytes. The values
/// should all differ so a swapped pair shows.
macro_rules! check_params {
    ($shader:expr, $P:ident { $($field:ident: $value:expr),* $(,)? }) => {{
        let src = &$shader;
        let p = $P { $($field: $value),* };
        let (fields, span) = wgsl_params(&parse_and_validate(src));
        let expected = [$(
            (
                stringify!($field).to_owned(),
                offset_of!($P, $field) as u32,
                kind_of(&p.$field),
            )
        ),*];
        assert_eq!(fields, expected, "{}: Params", src.name);
        assert_eq!(span as usize, size_of::<$P>(), "{}: Params size", src.name);

        let b = p.to_bytes();
        assert_eq!(b.len(), size_of::<$P>().div_ceil(16) * 16, "{}", src.name);
        $(
            let at = offset_of!($P, $field);
            assert_eq!(
                b[at..at + 4],
                p.$field.to_le_bytes(),
                "{}: {}",
                src.name,
                stringify!($field)
            );
        )*
        assert!(b[size_of::<$P>()..].iter().all(|&x| x == 0), "{}: padding", src.name);
    }};
}

#[test]
fn rms_norm_params_match_wgsl() {
    check_params!(
        RMS_NORM,
        RmsNormParams {
            n: 2560,
            rows: 7,
            eps: 1e-5
        }
    );
}

#[test]
fn quantize_act_params_match_wgsl() {
    check_params!(
        QUANTIZE_ACT,
        QuantizeActParams {
            rows: 3,
            cols: 2560
        }
    );
}

#[test]
fn i2s_matmul_params_match_wgsl() {
    check_params!(
        I2S_MATMUL,
        I2sMatmulParams {
            rows: 640,
            cols: 2560,
            n_tokens: 4,
            out_stride: 3840,
            row_offset: 2560,
            w_scale: 0.5,
        }
    );
}

#[test]
fn f16_matmul_params_match_wgsl() {
    check_params!(
        F16_MATMUL,
        F16MatmulParams {
            rows: 1000,
            cols: 2560,
            n_tokens: 2,
            out_stride: 128_256,
            row_offset: 64_000,
        }
    );
}

#[test]
fn q8_matmul_params_match_wgsl() {
    check_params!(
        Q8_MATMUL,
        Q8MatmulParams {
            rows: 1000,
            cols: 2560,
            n_tokens: 3,
            out_stride: 128_256,
            row_offset: 64_000,
        }
    );
}

#[test]
fn argmax_params_match_wgsl() {
    check_params!(
        ARGMAX,
        ArgmaxParams {
            rows: 8,
            cols: 128_256,
        }
    );
}

#[test]
fn rope_neox_params_match_wgsl() {
    check_params!(
        ROPE_NEOX,
        RopeNeoxParams {
            rows: 5,
            n_heads: 20,
            head_dim: 128,
            n_rot: 64,
            theta_scale: 0.75,
        }
    );
}

#[test]
fn attention_params_match_wgsl() {
    check_params!(
        ATTENTION,
        AttentionParams {
            row0: 3,
            len: 9,
            pos: 100,
            n_head: 20,
            n_kv_head: 5,
            head_dim: 128,
            scale: 0.125,
        }
    );
}

#[test]
fn elementwise_params_match_wgsl() {
    check_params!(
        ELEMENTWISE,
        ElementwiseParams {
            len: 6912,
            op: ELEMENTWISE_RELU2_MUL,
            s: 2.5,
        }
    );
}

#[test]
fn elementwise_op_codes_match_wgsl() {
    let wgsl = ELEMENTWISE.wgsl;
    for (op, what) in [
        (ELEMENTWISE_ADD, "x = x + y"),
        (ELEMENTWISE_SCALE, "x = x * s"),
        (ELEMENTWISE_RELU2_MUL, "x = max(x, 0)^2 * y"),
        (ELEMENTWISE_SILU_MUL, "x = x / (1 + exp(-x)) * y"),
    ] {
        assert!(wgsl.contains(&format!("case {op}u:")), "op {op} has a case");
        // The header comment documents the same numbering.
        assert!(
            wgsl.lines()
                .any(|l| l.contains(&format!("op {op} ")) && l.contains(what)),
            "op {op} is documented as {what}"
        );
    }
}

#[test]
fn a_broken_shader_is_rejected() {
    // Guards the test itself: validation must actually reject bad WGSL
    // (here an i32 divided by an f32).
    let good = "let dot = f32(partial[0] - act_sum[token]);";
    assert!(I2S_MATMUL.wgsl.contains(good));
    let bad = I2S_MATMUL
        .wgsl
        .replace(good, "let dot = partial[0] - act_sum[token];");
    let module = naga::front::wgsl::parse_str(&bad);
    let rejected = match module {
        Err(_) => true,
        Ok(m) => Validator::new(ValidationFlags::all(), BASELINE)
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

#[test]
fn workgroups_cover_every_thread() {
    assert_eq!(workgroups_for_threads(0, 256), [0, 1, 1]);
    assert_eq!(workgroups_for_threads(1, 256), [1, 1, 1]);
    assert_eq!(workgroups_for_threads(256, 256), [1, 1, 1]);
    assert_eq!(workgroups_for_threads(257, 256), [2, 1, 1]);
    assert_eq!(workgroups_for_threads(65_535 * 64, 64), [65_535, 1, 1]);
    assert_eq!(workgroups_for_threads(65_535 * 64 + 1, 64), [65_535, 2, 1]);
    for wg in [1u32, 64, 256] {
        for total in [1u32, 63, 64, 65, 6912, 4_194_241, 20_000_000, 1 << 31] {
            let [x, y, z] = workgroups_for_threads(total, wg);
            assert!(x <= MAX_WORKGROUPS_PER_DIM && y <= MAX_WORKGROUPS_PER_DIM && z == 1);
            // Enough invocations, and fewer than one y slice of surplus
            // workgroups.
            let groups = x as u64 * y as u64;
            assert!(groups * wg as u64 >= total as u64, "{total}/{wg}");
            assert!(groups - (total as u64).div_ceil(wg as u64) < x as u64);
        }
    }
}

#[test]
#[should_panic(expected = "workgroup size 0")]
fn workgroups_for_threads_rejects_a_zero_workgroup() {
    workgroups_for_threads(1, 0);
}
