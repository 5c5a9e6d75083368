use super::*;
use proptest::prelude::*;

type Pack = fn(&[i8], usize, usize) -> Vec<u8>;
type Unpack = fn(&[u8], usize, usize) -> Vec<i8>;
type Gemv = fn(&[u8], usize, usize, &[i8], &mut [i32]);
type GemvAt = fn(Level, &[u8], usize, usize, &[i8], &mut [i32]);

/// One kernel family's entry points, so every test runs on both.
struct Family {
    name: &'static str,
    pack: Pack,
    unpack: Unpack,
    scalar: Gemv,
    at: GemvAt,
    best: Gemv,
}

const LUT2: Family = Family {
    name: "lut2",
    pack: lut2_pack,
    unpack: lut2_unpack,
    scalar: lut2_gemv_scalar,
    at: lut2_gemv_at,
    best: lut2_gemv,
};

const LUT3: Family = Family {
    name: "lut3",
    pack: lut3_pack,
    unpack: lut3_unpack,
    scalar: lut3_gemv_scalar,
    at: lut3_gemv_at,
    best: lut3_gemv,
};

const FAMILIES: [Family; 2] = [LUT2, LUT3];

/// `Σ_k w[r][k]·q[k]` straight from the codes: independent of every layout and table.
fn naive(codes: &[i8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|k| i32::from(codes[r * cols + k]) * i32::from(q[k]))
                .sum()
        })
        .collect()
}

/// Packs, checks the round trip, runs every available level and the dispatching entry point,
/// and holds them all to the scalar reference and the naive sum exactly.
fn check_all(fam: &Family, codes: &[i8], rows: usize, cols: usize, q: &[i8]) -> Vec<i32> {
    let packed = (fam.pack)(codes, rows, cols);
    assert_eq!(
        (fam.unpack)(&packed, rows, cols),
        codes,
        "{} round trip",
        fam.name
    );
    let expect = naive(codes, rows, cols, q);
    let mut got = vec![i32::MIN; rows];
    (fam.scalar)(&packed, rows, cols, q, &mut got);
    assert_eq!(got, expect, "{} scalar vs naive ({rows}x{cols})", fam.name);
    for level in Level::available() {
        got.fill(i32::MIN);
        (fam.at)(level, &packed, rows, cols, q, &mut got);
        assert_eq!(got, expect, "{} at {level} ({rows}x{cols})", fam.name);
    }
    got.fill(i32::MIN);
    (fam.best)(&packed, rows, cols, q, &mut got);
    assert_eq!(got, expect, "{} dispatched ({rows}x{cols})", fam.name);
    expect
}

/// A quick deterministic stream (xorshift), for fixed tests too large for proptest.
fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

fn random_codes(n: usize, seed: u64) -> Vec<i8> {
    let mut next = stream(seed);
    (0..n).map(|_| (next() % 3) as i8 - 1).collect()
}

#[test]
fn known_layout_lut2() {
    // One row, five columns: quad 0 = pairs (1,-1), (0,1); quad 1 = (-1, pad 0), (pad, pad).
    let packed = lut2_pack(&[1, -1, 0, 1, -1], 1, 5);
    assert_eq!(packed.len(), 2 * 64);
    // idx(1,-1) = 2·3 + 0 = 6; idx(0,1) = 1·3 + 2 = 5; idx(-1,0) = 0 + 1 = 1; zero pair = 4.
    assert_eq!(packed[0], 6 | 5 << 4);
    assert_eq!(packed[64], 1 | 4 << 4);
    // Rows 1..64 of the tile are padding: zero pairs.
    assert!(
        packed[1..64]
            .iter()
            .chain(&packed[65..])
            .all(|&b| b == 0x44)
    );
    let q = [10i8, 20, 30, 40, 50];
    // 10 − 20 + 0 + 40 − 50.
    assert_eq!(check_all(&LUT2, &[1, -1, 0, 1, -1], 1, 5, &q), [-20]);
}

#[test]
fn known_layout_lut3() {
    // Row 0: triplet 0 = (1, -1, 0) → v = 9 − 3 = 6, positive; triplet 1 = (-1, 1, 1) →
    // v = −9 + 3 + 1 = −5, negative; triplet 2 = (0, 0, -1) → v = −1, negative.
    // Row 1: all zero.
    let codes = [1, -1, 0, -1, 1, 1, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let packed = lut3_pack(&codes, 2, 9);
    assert_eq!(packed.len(), 256 + 320);
    assert_eq!(
        &packed[..4],
        &2u32.to_le_bytes(),
        "row 0 has two negative triplets"
    );
    assert_eq!(&packed[4..8], &0u32.to_le_bytes());
    let group = &packed[256..];
    assert_eq!(group[0], 6 | 5 << 4, "plane 0 row 0: triplets 0 and 1");
    assert_eq!(group[64], 1, "plane 1 row 0: triplet 2");
    assert_eq!(group[4 * 64], 0b110, "sign plane row 0");
    assert!(group[1..64].iter().all(|&b| b == 0));
    let q = [1i8, 2, 3, 4, 5, 6, 7, 8, 9];
    // 1 − 2 − 4 + 5 + 6 − 9.
    assert_eq!(check_all(&LUT3, &codes, 2, 9, &q), [-3, 0]);
}

#[test]
fn triplet_codes_cover_all_27_patterns() {
    let mut seen = std::collections::HashSet::new();
    for a in -1..=1 {
        for b in -1..=1 {
            for c in -1..=1 {
                let (m, neg) = triplet::triplet_code([a, b, c]);
                assert!(m <= 13);
                let w = triplet::triplet_weights(m);
                let w = if neg { w.map(|x| -x) } else { w };
                assert_eq!(w, [a, b, c]);
                assert!(seen.insert((m, neg)), "{m} {neg} twice");
            }
        }
    }
}

#[test]
fn extremes_at_the_accumulator_limits() {
    // Constant weights and activations maximise every table entry, and the widths cross the
    // i16 flush intervals (63 quads = 252 cols, 80 triplets = 240 cols) several times.
    for fam in &FAMILIES {
        for cols in [1, 2, 3, 252, 253, 504, 240, 241, 2560, 6912] {
            let rows = 67;
            for w in [-1i8, 1] {
                let codes = vec![w; rows * cols];
                for qv in [-128i8, 127, 0] {
                    let q = vec![qv; cols];
                    let expect = i32::from(w) * i32::from(qv) * cols as i32;
                    assert_eq!(check_all(fam, &codes, rows, cols, &q), vec![expect; rows]);
                }
            }
        }
    }
}

#[test]
fn mixed_signs_and_extremes() {
    // Alternating and random weights against -128/127 activations, on a 2B-4T-like width.
    for fam in &FAMILIES {
        let (rows, cols) = (130, 2560);
        let codes = random_codes(rows * cols, 7);
        let mut next = stream(9);
        let q: Vec<i8> = (0..cols)
            .map(|_| if next().is_multiple_of(2) { -128 } else { 127 })
            .collect();
        check_all(fam, &codes, rows, cols, &q);
        let alt: Vec<i8> = (0..rows * cols).map(|i| [1, -1, 0][i % 3]).collect();
        check_all(fam, &alt, rows, cols, &q);
    }
}

#[test]
fn empty_shapes() {
    for fam in &FAMILIES {
        check_all(fam, &[], 0, 0, &[]);
        check_all(fam, &[], 0, 100, &[5; 100]);
        let zeros = check_all(fam, &[], 3, 0, &[]);
        assert_eq!(zeros, [0; 3]);
        // Stale values in `out` are overwritten even with nothing to sum.
        let packed = (fam.pack)(&[], 3, 0);
        let mut out = [7i32; 3];
        (fam.best)(&packed, 3, 0, &[], &mut out);
        assert_eq!(out, [0; 3]);
    }
}

#[test]
#[should_panic(expected = "lut2_pack: code 2 at row 1, col 0 is not a ternary weight")]
fn lut2_pack_rejects_2() {
    lut2_pack(&[0, 1, 2, 0], 2, 2);
}

#[test]
#[should_panic(expected = "lut3_pack: code -2 at row 0, col 2 is not a ternary weight")]
fn lut3_pack_rejects_minus_2() {
    lut3_pack(&[0, 1, -2, 0], 1, 4);
}

#[test]
#[should_panic(expected = "lut2_pack: 5 codes for a 2x3 matrix (needs rows*cols)")]
fn lut2_pack_rejects_wrong_length() {
    lut2_pack(&[0; 5], 2, 3);
}

#[test]
#[should_panic(expected = "lut3_pack: 7 codes for a 2x3 matrix (needs rows*cols)")]
fn lut3_pack_rejects_wrong_length() {
    lut3_pack(&[0; 7], 2, 3);
}

#[test]
#[should_panic(expected = "lut2_gemv: packed has 63 bytes")]
fn lut2_gemv_rejects_wrong_packed_length() {
    lut2_gemv(&[0x44; 63], 1, 4, &[0; 4], &mut [0]);
}

#[test]
#[should_panic(expected = "lut3_gemv: q has 3 values, cols = 4")]
fn lut3_gemv_rejects_wrong_q_length() {
    let packed = lut3_pack(&[0; 4], 1, 4);
    lut3_gemv(&packed, 1, 4, &[0; 3], &mut [0]);
}

#[test]
fn arbitrary_bytes_are_safe_at_every_level() {
    // Bytes the packers never write (lut2 nibbles 9..=15, lut3 magnitudes 14 and 15, any
    // header) give unspecified sums, but every level must stay in bounds and fill `out`.
    let (rows, cols) = (200, 77);
    let mut next = stream(3);
    let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
    let p2: Vec<u8> = (0..lut2_packed_len(rows, cols))
        .map(|_| next() as u8)
        .collect();
    let p3: Vec<u8> = (0..lut3_packed_len(rows, cols))
        .map(|_| next() as u8)
        .collect();
    for level in Level::available() {
        let mut out = vec![0; rows];
        lut2_gemv_at(level, &p2, rows, cols, &q, &mut out);
        lut3_gemv_at(level, &p3, rows, cols, &q, &mut out);
    }
}

#[test]
fn unused_nibbles_read_as_zero_weights() {
    // lut2 nibbles 9..=15 are never written; every level treats them as zero pairs, like
    // lut2_unpack does.
    let (rows, cols) = (70, 40);
    let mut next = stream(5);
    let packed: Vec<u8> = (0..lut2_packed_len(rows, cols))
        .map(|_| next() as u8)
        .collect();
    let codes = lut2_unpack(&packed, rows, cols);
    let q: Vec<i8> = (0..cols).map(|_| next() as i8).collect();
    let expect = naive(&codes, rows, cols, &q);
    for level in Level::available() {
        let mut got = vec![0; rows];
        lut2_gemv_at(level, &packed, rows, cols, &q, &mut got);
        assert_eq!(got, expect, "{level}");
    }
}

fn shape_codes_q() -> impl Strategy<Value = (usize, usize, Vec<i8>, Vec<i8>)> {
    (0usize..=140, 0usize..=300).prop_flat_map(|(rows, cols)| {
        let q = prop_oneof![
            4 => prop::collection::vec(any::<i8>(), cols),
            1 => Just(vec![-128i8; cols]),
            1 => Just(vec![127i8; cols]),
            1 => Just(vec![0i8; cols]),
        ];
        let codes = prop_oneof![
            4 => prop::collection::vec(-1i8..=1, rows * cols),
            1 => Just(vec![-1i8; rows * cols]),
            1 => Just(vec![1i8; rows * cols]),
        ];
        (Just(rows), Just(cols), codes, q)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_level_equals_scalar_and_naive((rows, cols, codes, q) in shape_codes_q()) {
        for fam in &FAMILIES {
            check_all(fam, &codes, rows, cols, &q);
        }
    }

    #[test]
    fn pack_round_trips(
        (rows, cols, codes) in (0usize..=70, 0usize..=100)
            .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(-1i8..=1, r * c)))
    ) {
        for fam in &FAMILIES {
            let packed = (fam.pack)(&codes, rows, cols);
            prop_assert_eq!((fam.unpack)(&packed, rows, cols), codes.clone());
        }
    }
}
