//! Each `.cu` declares exactly the entry point and parameters described in
//! `sources.rs`, and follows the conventions the glue relies on.

use super::*;

/// Removes `//` and `/* */` comments so declarations can be matched.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The source without comments, whitespace runs collapsed to one space.
fn code(src: &str) -> String {
    strip_comments(src)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parameter list of `extern "C" __global__ void <entry>(...)`,
/// whitespace-normalised, or `None` when the source does not declare it.
fn declared_params(src: &str, entry: &str) -> Option<Vec<String>> {
    let code = code(src);
    let decl = format!("extern \"C\" __global__ void {entry}(");
    let start = code.find(&decl)? + decl.len();
    let end = start + code[start..].find(')')?;
    Some(
        code[start..end]
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
    )
}

/// The `N` of `#define BLOCK Nu`, if the source has one.
fn block_constant(src: &str) -> Option<u32> {
    let code = strip_comments(src);
    let value = code
        .lines()
        .find_map(|l| l.trim().strip_prefix("#define BLOCK "))?;
    value.trim().trim_end_matches('u').parse().ok()
}

#[test]
fn sources_declare_the_described_entry_points() {
    for id in KernelId::ALL {
        let k = id.source();
        assert_eq!(k.id, id);
        let found = declared_params(k.cuda, k.entry)
            .unwrap_or_else(|| panic!("{}: no extern \"C\" __global__ void {}", k.name, k.entry));
        let described: Vec<String> = k
            .params
            .iter()
            .map(|p| format!("{} {}", p.c_type, p.name))
            .collect();
        assert_eq!(found, described, "{}", k.name);
        // One kernel per module, so NVRTC's lookup by name is unambiguous.
        assert_eq!(code(k.cuda).matches("__global__").count(), 1, "{}", k.name);
        assert_eq!(k.cuda.matches(&format!("void {}(", k.entry)).count(), 1);
    }
}

#[test]
fn the_signature_check_can_fail() {
    let src = I2S_MATMUL
        .cuda
        .replace("const int* act_sum", "const float* act_sum");
    assert_ne!(
        declared_params(&src, I2S_MATMUL.entry),
        declared_params(I2S_MATMUL.cuda, I2S_MATMUL.entry)
    );
    assert_eq!(
        declared_params("/* extern \"C\" __global__ void f(int a) */", "f"),
        None
    );
    assert_eq!(block_constant("// #define BLOCK 64u"), None);
    assert_eq!(
        block_constant("#define X 1\n  #define BLOCK 64u\n"),
        Some(64)
    );
}

#[test]
fn names_follow_the_conventions() {
    let mut names: Vec<&str> = KernelId::ALL.iter().map(|id| id.source().name).collect();
    for id in KernelId::ALL {
        let k = id.source();
        assert_eq!(k.entry, format!("bitnet_{}", k.name));
        assert!(
            k.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}",
            k.name
        );
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), KernelId::ALL.len(), "names are unique");
}

/// The glue maps parameter types to Rust argument types by this list alone.
#[test]
fn parameters_use_the_agreed_types() {
    const TYPES: [&str; 9] = [
        "const float*",
        "float*",
        "const unsigned int*",
        "unsigned int*",
        "const int*",
        "int*",
        "const unsigned short*",
        "unsigned int",
        "float",
    ];
    for id in KernelId::ALL {
        let k = id.source();
        for p in k.params {
            assert!(
                TYPES.contains(&p.c_type),
                "{}: {} {}",
                k.name,
                p.c_type,
                p.name
            );
        }
        let mut names: Vec<&str> = k.params.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), k.params.len(), "{}: parameter names", k.name);
    }
}

/// NVRTC runs with no include path (it has no built-in `cuda_fp16.h`) and
/// maybe no `--std` (NVRTC 11.x then compiles C++03: no `constexpr`), and
/// the WGSL mirrors use accurate math: no fast intrinsics here.
#[test]
fn sources_are_self_contained_and_use_accurate_math() {
    const FAST: [&str; 8] = [
        "__expf",
        "__exp10f",
        "__logf",
        "__powf",
        "__sinf",
        "__cosf",
        "__fdividef",
        "rsqrtf",
    ];
    for id in KernelId::ALL {
        let k = id.source();
        let code = code(k.cuda);
        assert!(!code.contains("#include"), "{}: includes a header", k.name);
        for cxx11 in ["constexpr", "auto ", "nullptr", "static_assert"] {
            assert!(!code.contains(cxx11), "{}: uses {cxx11}", k.name);
        }
        for f in FAST {
            assert!(!code.contains(f), "{}: uses {f}", k.name);
        }
    }
}

/// dp4a needs compute 6.1; the guard turns a wrong architecture into one
/// clear compile error instead of a PTX one at module load. The kernels
/// spell it as inline PTX: NVRTC 12.0 and 11.8 leave the `__dp4a` intrinsic
/// an unresolved external in the PTX.
#[test]
fn dp4a_kernels_guard_the_architecture() {
    let mut with_dp4a = 0;
    for id in KernelId::ALL {
        let k = id.source();
        let code = code(k.cuda);
        assert!(!code.contains("__dp4a"), "{}", k.name);
        if code.contains("dp4a") {
            with_dp4a += 1;
            assert!(
                code.contains("#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 610 #error"),
                "{}",
                k.name
            );
        }
    }
    assert_eq!(with_dp4a, 2, "i2s_matmul and q8_matmul");
}

/// A reduction kernel's shared arrays and strides assume its block size.
#[test]
fn block_constants_equal_the_launch_blocks() {
    let mut with_block = 0;
    for id in KernelId::ALL {
        let k = id.source();
        let cfg = sample_launch(id);
        assert_eq!((cfg.block_dim.1, cfg.block_dim.2), (1, 1), "{}", k.name);
        assert_eq!(cfg.block_dim.0 % 32, 0, "{}: whole warps", k.name);
        if let Some(block) = block_constant(k.cuda) {
            assert_eq!(cfg.block_dim.0, block, "{}", k.name);
            with_block += 1;
        } else {
            // Without a BLOCK constant the kernel must index by blockDim.
            assert!(code(k.cuda).contains("blockDim.x"), "{}", k.name);
        }
    }
    assert_eq!(with_block, 7, "every reduction kernel declares BLOCK");
}
