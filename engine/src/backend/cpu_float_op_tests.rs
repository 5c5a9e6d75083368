//! The float ops against the reference backend, at prompt-batch sizes (the pool's paths)
//! and decode sizes (inline). Elementwise ops, RMSNorm and RoPE are bit-identical to it;
//! SiLU is held to `1e-5·|gate·up|` and attention to `1e-5·max|v|` per element (its
//! output is a convex combination of value rows).
use super::*;

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn backends() -> (CpuBackend, ReferenceBackend) {
    (CpuBackend::new(2).expect("pool"), ReferenceBackend::new(2))
}

#[test]
fn rms_norm_equals_the_reference() {
    let (cpu, re) = backends();
    for (rows, dim) in [(1, 2560), (64, 1024), (3, 17), (40, 1)] {
        let (x, w) = (data(rows * dim + 5, 1), data(dim, 2));
        let (mut a, mut b) = (vec![0f32; rows * dim], vec![0f32; rows * dim]);
        cpu.rms_norm(&x, &w, rows, dim, 1e-5, &mut a).expect("cpu");
        re.rms_norm(&x, &w, rows, dim, 1e-5, &mut b)
            .expect("reference");
        assert_eq!(a, b, "{rows}×{dim}");
    }
}

#[test]
fn elementwise_ops_equal_the_reference() {
    let (cpu, re) = backends();
    for len in [2561, 100_003] {
        let (x, y) = (data(len + 3, 3), data(len + 3, 4));
        let (mut a, mut b) = (x.clone(), x.clone());
        cpu.add(&mut a, &y, len).expect("cpu");
        re.add(&mut b, &y, len).expect("reference");
        assert_eq!(a, b, "add {len}");
        cpu.scale(&mut a, len, -1.75).expect("cpu");
        re.scale(&mut b, len, -1.75).expect("reference");
        assert_eq!(a, b, "scale {len}");
        cpu.relu2_mul(&mut a, &y, len).expect("cpu");
        re.relu2_mul(&mut b, &y, len).expect("reference");
        assert_eq!(a, b, "relu2_mul {len}");
        let (mut a, mut b) = (x.clone(), x.clone());
        let y: Vec<f32> = y.iter().map(|v| v * 20.0).collect();
        cpu.silu_mul(&mut a, &y, len).expect("cpu");
        re.silu_mul(&mut b, &y, len).expect("reference");
        for i in 0..len + 3 {
            let tol = 1e-5 * (x[i] * y[i]).abs();
            assert!((a[i] - b[i]).abs() <= tol, "silu_mul {len}[{i}]");
        }
    }
}

#[test]
fn rope_equals_the_reference() {
    let (cpu, re) = backends();
    for (rows, n_heads, head_dim, n_rot) in [(1, 20, 128, 128), (16, 4, 64, 32), (3, 2, 6, 6)] {
        let positions: Vec<usize> = (0..rows).map(|r| 3 * r + 7).collect();
        let x = data(rows * n_heads * head_dim, 5);
        let (mut a, mut b) = (x.clone(), x);
        cpu.rope_neox(&mut a, &positions, n_heads, head_dim, n_rot, 500_000.0)
            .expect("cpu");
        re.rope_neox(&mut b, &positions, n_heads, head_dim, n_rot, 500_000.0)
            .expect("reference");
        assert_eq!(
            a, b,
            "{rows} rows × {n_heads} heads of {head_dim}, n_rot {n_rot}"
        );
    }
}

#[test]
fn attention_matches_the_reference() {
    let (cpu, re) = backends();
    let shape = AttnShape {
        n_head: 4,
        n_kv_head: 2,
        head_dim: 64,
    };
    let (q_dim, kv_dim) = (4 * 64, 2 * 64);
    for chunk in [
        SeqChunk {
            row: 0,
            len: 1,
            pos: 40,
        },
        SeqChunk {
            row: 2,
            len: 9,
            pos: 5,
        },
    ] {
        let ctx = chunk.pos + chunk.len;
        let q: Vec<f32> = data((chunk.row + chunk.len) * q_dim, 6);
        let k = data(ctx * kv_dim, 7);
        let v: Vec<f32> = data(ctx * kv_dim, 8).iter().map(|x| x * 3.0).collect();
        let vmax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        let (mut a, mut b) = (vec![0f32; q.len()], vec![0f32; q.len()]);
        cpu.attention(&q, &k, &v, chunk, shape, &mut a)
            .expect("cpu");
        re.attention(&q, &k, &v, chunk, shape, &mut b)
            .expect("reference");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * vmax, "{chunk:?}[{i}]: {x} vs {y}");
        }
    }
}

#[test]
fn bad_shapes_fail_as_in_the_reference() {
    let (cpu, re) = backends();
    let (x, w) = (data(10, 1), data(4, 2));
    let (mut a, mut b) = (vec![0f32; 12], vec![0f32; 12]);
    let e = |r: Result<(), BackendError>| format!("{}", r.expect_err("must fail"));
    assert_eq!(
        e(cpu.rms_norm(&x, &w, 3, 4, 1e-5, &mut a)),
        e(re.rms_norm(&x, &w, 3, 4, 1e-5, &mut b))
    );
    assert_eq!(e(cpu.add(&mut a, &x, 11)), e(re.add(&mut b, &x, 11)));
    assert_eq!(
        e(cpu.relu2_mul(&mut a, &x, 11)),
        e(re.relu2_mul(&mut b, &x, 11))
    );
    assert_eq!(e(cpu.scale(&mut a, 13, 2.0)), e(re.scale(&mut b, 13, 2.0)));
    assert_eq!(
        e(cpu.rope_neox(&mut a, &[0, 1], 2, 3, 3, 1e4)),
        e(re.rope_neox(&mut b, &[0, 1], 2, 3, 3, 1e4))
    );
    assert_eq!(
        e(cpu.rope_neox(&mut a, &[0, 1, 2], 2, 4, 4, 1e4)),
        e(re.rope_neox(&mut b, &[0, 1, 2], 2, 4, 4, 1e4))
    );
}
