//! The kernels' index and reduction arithmetic, replayed in Rust against
//! the definitions. This checks the arithmetic of the `.cu` loops; the
//! kernels themselves only run on a GPU.

/// xorshift64, for reproducible test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `__dp4a` on two words: signed bytes, products added to `acc`.
fn dp4a(a: u32, b: u32, acc: i32) -> i32 {
    (0..4).fold(acc, |acc, i| {
        acc + i32::from((a >> (8 * i)) as u8 as i8) * i32::from((b >> (8 * i)) as u8 as i8)
    })
}

/// i2s_matmul's word/activation mapping, thread by thread over a block of
/// 64, for every (row, token), against the per-weight definition of I2_S:
/// `raw − act_sum` must equal `Σ_k weight_k · q_k` exactly.
#[test]
fn i2s_matmul_word_mapping_matches_the_layout() {
    const BLOCK: usize = 64;
    let (rows, cols, tokens) = (3usize, 1152usize, 3usize);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let bytes: Vec<u8> = (0..rows * cols / 4).map(|_| rng.next() as u8).collect();
    let q: Vec<i8> = (0..tokens * cols).map(|_| rng.next() as i8).collect();
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let act: Vec<u32> = q
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0] as u8, c[1] as u8, c[2] as u8, c[3] as u8]))
        .collect();
    let act_sum: Vec<i32> = q
        .chunks_exact(cols)
        .map(|row| row.iter().map(|&v| i32::from(v)).sum())
        .collect();
    let fix = |c: u32| c ^ ((c & (c >> 1) & 0x0101_0101) << 1);
    let n = cols / 16;
    for t in 0..tokens {
        let a_row = &act[t * cols / 4..(t + 1) * cols / 4];
        for r in 0..rows {
            let w_row = &words[r * n..(r + 1) * n];
            let raw: i32 = (0..BLOCK)
                .map(|tid| {
                    let mut acc = 0;
                    for i in (tid..n).step_by(BLOCK) {
                        let w = w_row[i];
                        let a = (i / 8) * 32 + i % 8;
                        acc = dp4a(fix((w >> 6) & 0x0303_0303), a_row[a], acc);
                        acc = dp4a(fix((w >> 4) & 0x0303_0303), a_row[a + 8], acc);
                        acc = dp4a(fix((w >> 2) & 0x0303_0303), a_row[a + 16], acc);
                        acc = dp4a(fix(w & 0x0303_0303), a_row[a + 24], acc);
                    }
                    acc
                })
                .sum();
            let expect: i32 = (0..cols)
                .map(|k| {
                    let byte = bytes[r * cols / 4 + (k / 128) * 32 + k % 32];
                    let weight = match (byte >> (6 - 2 * ((k % 128) / 32))) & 3 {
                        0 => -1,
                        2 => 1,
                        _ => 0,
                    };
                    weight * i32::from(q[t * cols + k])
                })
                .sum();
            assert_eq!(raw - act_sum[t], expect, "row {r}, token {t}");
        }
    }
}

/// The WGSL workgroup reduction: `partial[l] += partial[l + stride]` for
/// strides `n/2, …, 1`.
fn wgsl_tree(values: &[f32]) -> f32 {
    let mut p = values.to_vec();
    let mut stride = p.len() / 2;
    while stride > 0 {
        for l in 0..stride {
            p[l] += p[l + stride];
        }
        stride /= 2;
    }
    p[0]
}

/// The CUDA kernels' reduction: the same shared-memory steps down to stride
/// 32, then `v += __shfl_down_sync(v, offset)` for offsets 16, …, 1 in the
/// first warp (a lane past the warp reads its own value, as the hardware
/// returns it).
fn cuda_tree(values: &[f32]) -> f32 {
    let mut p = values.to_vec();
    let mut stride = p.len() / 2;
    while stride >= 32 {
        for l in 0..stride {
            p[l] += p[l + stride];
        }
        stride /= 2;
    }
    let mut v: Vec<f32> = p[..32].to_vec();
    for offset in [16, 8, 4, 2, 1] {
        v = (0..32)
            .map(|l| v[l] + if l + offset < 32 { v[l + offset] } else { v[l] })
            .collect();
    }
    v[0]
}

/// The f32 sums group their terms as the WGSL ones do, so the two GPU
/// backends round alike (up to FMA contraction and the math library).
#[test]
fn float_reductions_follow_the_wgsl_tree() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Another grouping (a plain running sum) rounds differently on this
    // data, so the comparison below can tell groupings apart.
    let mut other_order = 0;
    for block in [64usize, 256] {
        for _ in 0..200 {
            let values: Vec<f32> = (0..block)
                .map(|_| {
                    let mantissa = (rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    mantissa * 2f32.powi((rng.next() % 40) as i32 - 20)
                })
                .collect();
            assert_eq!(
                cuda_tree(&values).to_bits(),
                wgsl_tree(&values).to_bits(),
                "block {block}"
            );
            let running: f32 = values.iter().sum();
            other_order += usize::from(running.to_bits() != wgsl_tree(&values).to_bits());
        }
    }
    assert!(other_order > 0);
}

/// rope_neox's flat thread index covers every (row, head, pair) once, and
/// both elements of a pair stay inside the row's head.
#[test]
fn rope_index_covers_every_pair_once() {
    let (rows, n_heads, head_dim, n_rot) = (3usize, 5usize, 16usize, 10usize);
    let half = n_rot / 2;
    let mut seen = vec![0u8; rows * n_heads * head_dim];
    for idx in 0..rows * n_heads * half {
        let (i, rh) = (idx % half, idx / half);
        let (head, row) = (rh % n_heads, rh / n_heads);
        let base = (row * n_heads + head) * head_dim;
        seen[base + i] += 1;
        seen[base + i + half] += 1;
    }
    for (k, &count) in seen.iter().enumerate() {
        let rotated = k % head_dim < n_rot;
        assert_eq!(count, u8::from(rotated), "element {k}");
    }
}

/// attention's score slots are disjoint and fit the documented scratch size
/// `len · n_head · (pos + len)`.
#[test]
fn attention_score_slots_fit_the_scratch() {
    let (len, pos, n_head) = (4usize, 6usize, 3usize);
    let mut used = vec![false; len * n_head * (pos + len)];
    for i in 0..len {
        for head in 0..n_head {
            let slot = (i * n_head + head) * (pos + len);
            for p in 0..pos + i + 1 {
                assert!(!used[slot + p], "({i}, {head}, {p}) overlaps");
                used[slot + p] = true;
            }
        }
    }
}
