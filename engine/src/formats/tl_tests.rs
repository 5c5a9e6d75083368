//! TL1/TL2: hand-computed bytes, round trips, tile rules, and the lookup-table sums against
//! the I2_S reference.

use super::ternary::{
    TernaryMatrix, pack_ternary, pack_ternary_with_tiles, unpack_ternary_with_tiles,
};
use super::tl_lut::{quantize_activations, tl_matmul, tl1_dot, tl2_dot};
use super::tl_tiles::{TL_CONFIG_KEYS, TlConfig, TlTiles};
use super::{FormatError, TensorType, i2s, tensor_nbytes, tl1, tl2};
use crate::gguf::{GgufFile, GgufWriter};
use proptest::prelude::*;

const TL1: TensorType = TensorType::TL1;
const TL2: TensorType = TensorType::TL2;

fn one_weight(rows: usize, cols: usize, at: &[(usize, usize, i8)]) -> Vec<i8> {
    let mut w = vec![0i8; rows * cols];
    for &(r, c, v) in at {
        w[r * cols + c] = v;
    }
    w
}

/// bitnet.cpp's converter on a 64×64 weight with BM 64, BK 32, bm 32 and only W[37][45] = −1
/// writes 0x34 at byte 853 (pair 22 of row 37: tile_k 1, step 1, couple 1, even pair; row
/// block 1, group 0, row 5) and 0x44 (two zero pairs) everywhere else.
#[test]
fn tl1_known_bytes() {
    let t = TlTiles {
        bm: 64,
        bk: 32,
        bmm: 32,
    };
    let w = one_weight(64, 64, &[(37, 45, -1)]);
    let data = tl1::pack(&w, 64, 64, 0.5, &t).expect("packs");
    assert_eq!(data.len(), 64 * 64 / 4 + 32);
    for (i, &b) in data[..1024].iter().enumerate() {
        assert_eq!(b, if i == 853 { 0x34 } else { 0x44 }, "byte {i}");
    }
    assert_eq!(&data[1024..1028], &0.5f32.to_le_bytes());
    assert!(data[1028..].iter().all(|&b| b == 0));
    // An odd pair sits in the low nibble: W[37][46] = +1 is pair 23, idx 3·1 + 0 + 4 = 7.
    let w = one_weight(64, 64, &[(37, 46, 1)]);
    assert_eq!(tl1::pack(&w, 64, 64, 0.5, &t).expect("packs")[853], 0x47);
}

/// The TL2 layout on a 32×128 weight with BM 32 and BK 96 (three_k 96, two_k 32), each
/// byte worked out by hand from the converter's order.
#[test]
fn tl2_known_bytes() {
    let t = TlTiles {
        bm: 32,
        bk: 96,
        bmm: 32,
    };
    // bitnet.cpp's size: (128−256)·32/3·5/8 + 256·32/2·4/8 = 1195 in C, up to 1216, + 32.
    assert_eq!(tensor_nbytes(TL2, &[128, 32]), Ok(1248));
    let pack = |at: &[(usize, usize, i8)]| {
        tl2::pack(&one_weight(32, 128, at), 32, 128, 2.0, &t).expect("packs")
    };
    let zero = pack(&[]);
    // Triplet nibbles [0, 512) and signs [512, 640) are zero; remainder pairs [640, 896) are
    // 0x44; then padding, and the scale at 1216.
    assert!(zero[..640].iter().all(|&b| b == 0));
    assert!(zero[640..896].iter().all(|&b| b == 0x44));
    assert!(zero[896..1216].iter().all(|&b| b == 0));
    assert_eq!(&zero[1216..1220], &2.0f32.to_le_bytes());
    let diff = |data: &[u8]| -> Vec<(usize, u8)> {
        data.iter()
            .zip(&zero)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, _))| (i, *a))
            .collect()
    };
    // W[20][40] = −1: triplet 13 (columns 39..41, v = 3·(−1) = −3), an odd triplet of couple
    // 6, so |v| = 3 in the low nibble of byte 6·32 + position(row 20) = 192 + 12. Its sign:
    // group 1 of 8 triplets, word 20 mod 16 = 4, bit 15 − (2·5 + 1) = 4 → byte 512 + 32 + 8.
    assert_eq!(diff(&pack(&[(20, 40, -1)])), vec![(204, 0x03), (552, 0x10)]);
    // W[0][0] = −1: triplet 0, v = −9, high nibble of byte 0; sign bit 15 is bit 7 of the
    // word's high byte.
    assert_eq!(diff(&pack(&[(0, 0, -1)])), vec![(0, 0x90), (513, 0x80)]);
    // W[9][0..3] = (1, 1, 1): v = 13; row 9 is stored at position 17.
    assert_eq!(
        diff(&pack(&[(9, 0, 1), (9, 1, 1), (9, 2, 1)])),
        vec![(17, 0xD0)]
    );
    // W[5][100] = +1: remainder pair 2 (columns 100, 101), idx 3·1 + 0 + 4 = 7 in the high
    // nibble of couple 1: byte 640 + 32 + 5.
    assert_eq!(diff(&pack(&[(5, 100, 1)])), vec![(677, 0x74)]);
    // A row in 16..24 sits 8 positions earlier: W[17][127] = −1 is pair 15's w1, idx 3,
    // low nibble of couple 7 at position 9.
    assert_eq!(
        diff(&pack(&[(17, 127, -1)])),
        vec![(640 + 7 * 32 + 9, 0x43)]
    );
}

#[test]
fn tile_rule_covers_the_2b4t_shapes_and_names_impossible_ones() {
    for (m, k) in [(2560, 2560), (640, 2560), (6912, 2560), (2560, 6912)] {
        for ty in [TL1, TL2] {
            let t = TlTiles::rule(ty, m, k).expect("2B-4T shapes have tiles");
            assert_eq!(t.check(ty, m, k), Ok(()));
            assert_eq!(
                TlTiles::preset(ty, m, k),
                None,
                "bitnet.cpp has no 2B-4T preset"
            );
        }
    }
    // The table in docs/reference/quantization-support.md.
    let t = |bm, bk| TlTiles { bm, bk, bmm: 32 };
    for ((m, k), tl1, tl2) in [
        ((2560, 2560), t(256, 256), t(256, 96)),
        ((640, 2560), t(160, 256), t(160, 96)),
        ((6912, 2560), t(256, 256), t(256, 96)),
        ((2560, 6912), t(256, 256), t(256, 96)),
    ] {
        assert_eq!(TlTiles::rule(TL1, m, k), Ok(tl1), "TL1 {m}×{k}");
        assert_eq!(TlTiles::rule(TL2, m, k), Ok(tl2), "TL2 {m}×{k}");
    }
    // Every preset is a valid layout of its shape.
    for (m, k) in [(1536, 4096), (3200, 8640), (4096, 14336), (1536, 1536)] {
        for ty in [TL1, TL2] {
            let t = TlTiles::preset(ty, m, k).expect("preset");
            assert_eq!(t.check(ty, m, k), Ok(()));
            assert_eq!(TlTiles::choose(ty, m, k), Ok(t));
        }
    }
    for (ty, m, k) in [(TL1, 16, 256), (TL1, 32, 6), (TL2, 48, 256), (TL2, 32, 40)] {
        assert!(
            matches!(TlTiles::rule(ty, m, k), Err(FormatError::BadShape { .. })),
            "{ty} {m}×{k}"
        );
    }
    let bad = TlTiles {
        bm: 32,
        bk: 100,
        bmm: 32,
    };
    assert!(bad.check(TL2, 32, 256).is_err());
    assert!(bad.check(TL1, 32, 256).is_err());
}

#[test]
fn kernel_config_ini_and_metadata_round_trip() {
    let ini = "[Kernels_0]\nm = 2560\nk = 2560\nbm = 160\nbk = 64\nbmm = 32\n\n\
               [Kernels_1]\nm = 6912\nk = 2560\nbm = 256\nbk = 96\nbmm = 32\n";
    let c = TlConfig::parse_ini(ini).expect("parses");
    assert_eq!(
        c.get(2560, 2560),
        Some(TlTiles {
            bm: 160,
            bk: 64,
            bmm: 32
        })
    );
    assert_eq!(c.get(6912, 2560).map(|t| t.bk), Some(96));
    assert_eq!(c.get(1, 1), None);
    for (text, want) in [
        ("[K]\nm = 1\nk = 2\n", "lacks one of"),
        ("m = 1\n", "outside any [section]"),
        ("[K]\nm = x\n", "not a whole number"),
        ("[K]\nm 1\n", "expected key = value"),
    ] {
        let e = TlConfig::parse_ini(text).expect_err(text).to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }

    let mut w = GgufWriter::new();
    c.write(&mut w);
    let mut bytes = Vec::new();
    w.write_with(&mut bytes, |_| unreachable!("no tensors"))
        .expect("in-memory write");
    let file = GgufFile::from_bytes(bytes).expect("valid GGUF");
    assert_eq!(TlConfig::from_gguf(&file), Ok(Some(c)));

    // One array shorter than the others is an error naming the keys.
    let mut w = GgufWriter::new();
    TlConfig::parse_ini(ini).expect("parses").write(&mut w);
    w.add_kv(
        TL_CONFIG_KEYS[4],
        crate::gguf::GgufValue::Array(crate::gguf::GgufValueType::U32, vec![]),
    );
    let mut bytes = Vec::new();
    w.write_with(&mut bytes, |_| unreachable!("no tensors"))
        .expect("in-memory write");
    let file = GgufFile::from_bytes(bytes).expect("valid GGUF");
    assert!(TlConfig::from_gguf(&file).is_err());
}

/// Σ w·q through I2_S: the reference kernel's `raw − Σq` with unsigned codes.
fn i2s_sums(w: &[i8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
    let data = i2s::pack(w, rows, cols, 1.0).expect("I2_S packs");
    let mut codes = vec![0i8; cols];
    (0..rows)
        .map(|r| {
            i2s::unpack_codes(&data[r * cols / 4..(r + 1) * cols / 4], &mut codes)
                .expect("whole blocks");
            let raw: i32 = codes
                .iter()
                .zip(q)
                .map(|(&c, &x)| (i32::from(c) + 1) * i32::from(x))
                .sum();
            raw - q.iter().map(|&x| i32::from(x)).sum::<i32>()
        })
        .collect()
}

/// A shape both TL types and I2_S hold, with random valid TL tiles.
fn case() -> impl Strategy<Value = (usize, usize, TlTiles, TlTiles, Vec<i8>, Vec<i8>)> {
    (1usize..=3, 1usize..=3, 0usize..4).prop_flat_map(|(mr, kb, mode)| {
        let rows = 64 * mr;
        let cols = 128 * kb;
        let tl1_tiles = prop_oneof![
            Just(TlTiles::rule(TL1, rows, cols).expect("rule")),
            (0usize..2).prop_map(move |i| TlTiles {
                bm: 64,
                bk: if i == 0 { 64 } else { 128 },
                bmm: 32 * (i + 1),
            }),
        ];
        let tl2_tiles = prop_oneof![
            Just(TlTiles::rule(TL2, rows, cols).expect("rule")),
            Just(TlTiles {
                bm: 32,
                bk: 24 * 4,
                bmm: 32
            }),
            Just(TlTiles {
                bm: 64,
                bk: if cols % 192 == 0 { 192 } else { 96 },
                bmm: 32
            }),
        ];
        let n = rows * cols;
        let weights = match mode {
            0 => Just(vec![0i8; n]).boxed(),
            1 => Just(vec![-1i8; n]).boxed(),
            _ => prop::collection::vec(-1i8..=1, n).boxed(),
        };
        let acts = prop_oneof![
            prop::collection::vec(any::<i8>(), cols),
            Just(vec![i8::MIN; cols]),
            Just(vec![127i8; cols]),
        ];
        (Just(rows), Just(cols), tl1_tiles, tl2_tiles, weights, acts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tl_pack_unpack_round_trip((rows, cols, t1, t2, w, _q) in case(), scale in -4f32..4.0) {
        let m = TernaryMatrix::new(rows, cols, w.clone(), scale).expect("valid");
        for (ty, t) in [(TL1, t1), (TL2, t2)] {
            let data = pack_ternary_with_tiles(ty, &m, Some(t)).expect("packs");
            prop_assert_eq!(data.len() as u64, tensor_nbytes(ty, &[cols as u64, rows as u64]).expect("size"));
            let u = unpack_ternary_with_tiles(ty, &data, rows, cols, Some(t)).expect("unpacks");
            prop_assert_eq!(&u.codes, &w);
            prop_assert_eq!(u.scales, vec![scale; rows]);
            prop_assert_eq!(u.block_len, cols);
        }
    }

    /// The lookup-table sums equal Σ w·q, which is what the I2_S reference computes, for any
    /// int8 activations (extremes included) and any valid tiling.
    #[test]
    fn lut_sums_equal_the_i2s_reference((rows, cols, t1, t2, w, q) in case()) {
        let want = i2s_sums(&w, rows, cols, &q);
        let direct: Vec<i32> = w.chunks(cols).map(|r| r.iter().zip(&q).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum()).collect();
        prop_assert_eq!(&want, &direct);
        let d1 = tl1::pack(&w, rows, cols, 1.0, &t1).expect("packs");
        prop_assert_eq!(&tl1_dot(&d1, rows, cols, &t1, &q).expect("sums"), &want);
        let d2 = tl2::pack(&w, rows, cols, 1.0, &t2).expect("packs");
        prop_assert_eq!(&tl2_dot(&d2, rows, cols, &t2, &q).expect("sums"), &want);
    }
}

/// Float outputs: the TL kernels' per-token scale without a floor matches the I2_S path's
/// result to float rounding, and a zero token gives zeros, not NaN.
#[test]
fn tl_matmul_scales_and_guards_zero_input() {
    let (rows, cols) = (64, 256);
    let w: Vec<i8> = (0..rows * cols).map(|i| (i * 7 % 3) as i8 - 1).collect();
    let scale = 0.25;
    let x: Vec<f32> = (0..cols * 2)
        .map(|i| {
            if i < cols {
                ((i * 13 % 29) as f32 - 14.0) / 7.0
            } else {
                0.0
            }
        })
        .collect();
    for ty in [TL1, TL2] {
        let t = TlTiles::rule(ty, rows, cols).expect("rule");
        let m = TernaryMatrix::new(rows, cols, w.clone(), scale).expect("valid");
        let data = pack_ternary_with_tiles(ty, &m, Some(t)).expect("packs");
        let y = tl_matmul(ty, &data, rows, cols, &t, &x, 2).expect("runs");
        let (q, s) = quantize_activations(&x[..cols]).expect("nonzero token");
        for r in 0..rows {
            let dot: i32 = w[r * cols..(r + 1) * cols]
                .iter()
                .zip(&q)
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
            assert_eq!(y[r], dot as f32 / s * scale, "{ty} row {r}");
        }
        assert!(y[rows..].iter().all(|&v| v == 0.0), "{ty}: zero token");
        assert!(tl_matmul(ty, &data, rows, cols, &t, &x[1..], 2).is_err());
    }
    assert_eq!(quantize_activations(&[0.0; 8]), None);
    assert_eq!(quantize_activations(&[f32::NAN, 1.0]), None);
    let t = TlTiles::rule(TL1, rows, cols).expect("rule");
    let m = TernaryMatrix::new(rows, cols, w, scale).expect("valid");
    let data = pack_ternary_with_tiles(TL1, &m, Some(t)).expect("packs");
    let mut bad = vec![1.0f32; cols];
    bad[3] = f32::INFINITY;
    let y = tl_matmul(TL1, &data, rows, cols, &t, &bad, 1).expect("runs");
    assert!(y.iter().all(|v| v.is_nan()));
}

#[test]
fn tl_types_pack_through_the_generic_entry_points() {
    let m = TernaryMatrix::new(
        32,
        256,
        (0..32 * 256).map(|i| (i % 3) as i8 - 1).collect(),
        1.5,
    )
    .expect("valid");
    for ty in [TL1, TL2] {
        let data = pack_ternary(ty, &m).expect("packs with the chosen tiles");
        let u = super::ternary::unpack_ternary(ty, &data, 32, 256).expect("unpacks");
        assert_eq!(u.codes, m.codes);
    }
    // Non-ternary weights are refused by the TL packers themselves.
    let t = TlTiles::rule(TL1, 32, 256).expect("rule");
    assert!(tl1::pack(&vec![2i8; 32 * 256], 32, 256, 1.0, &t).is_err());
    assert!(tl2::pack(&[0i8; 5], 32, 256, 1.0, &t).is_err());
}
