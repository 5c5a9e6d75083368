//! Ternary matrix × int8 vector by table lookup (bitnet.cpp's TL1/TL2 idea, in layouts of our
//! own).
//!
//! # What is computed
//! `out[r] = Σ_k w[r][k]·q[k]` exactly, in i32, with signed ternary weights `w ∈ {−1, 0, +1}`
//! and `q` anywhere in the i8 range (−128 included). Unlike [`crate::i2s_gemv()`] there is no
//! `+Σq` offset to remove: the tables hold signed weights.
//!
//! # The idea
//! A group of g weights has only 3^g sign patterns, so for each group of activations the
//! kernel first builds a table of every `Σ w·q` the group can produce, once per call (the tables
//! depend only on `q`). A row's dot product is then a sum of lookups, one per group, with the
//! packed weights as table indices. On x86 the lookups are `pshufb`: one instruction does 32
//! (AVX2) or 64 (AVX-512) of them, one per row, so the SIMD lanes run across rows.
//!
//! Two families:
//! - **lut2** (TL1-style): pairs, `index = (w0+1)·3 + (w1+1)` in 0..9, two per byte;
//!   [`lut2_pack`].
//! - **lut3** (TL2-style): triplets, `v = 9·w0 + 3·w1 + w2` in −13..=13, stored as the 4-bit
//!   magnitude `|v|` plus a sign bit (`v` and `−v` are the same pattern negated, so the table
//!   needs 14 entries, not 27); [`lut3_pack`]. 5 bits per 3 weights instead of 6.
//!
//! # Layouts
//! Both cut the matrix into tiles of [`LUT_TILE_ROWS`] = 64 rows (the last tile padded with
//! zero weights), each stored whole before the next, so a tile is one contiguous run of bytes.
//! Inside a tile the byte lane `r` (0..64) of every 64-byte plane belongs to row `r` of the
//! tile: a plane is exactly one AVX-512 register (two AVX2 registers) of lookup indices.
//!
//! - **lut2**: `cols` padded with zero weights to a multiple of 4 (a *quad*: two pairs).
//!   Tile `t`, quad `j`: 64 bytes at `(t·quads + j)·64`; byte `r` =
//!   `idx(pair 2j) | idx(pair 2j+1) << 4` for row `64t + r`, pair `p` = columns `2p, 2p+1`.
//!   Length `⌈rows/64⌉·64·⌈cols/4⌉` ([`lut2_packed_len`]): 2 bits per weight.
//! - **lut3**: `cols` padded with zero weights to a multiple of 24 (a *group*: eight
//!   triplets, triplet `p` = columns `3p..3p+3`). A tile is a 256-byte header, 64 little-endian
//!   u32 holding each row's number of negative triplets (derived data, see below), then per
//!   group 320 bytes: four magnitude planes (plane `i` byte `r` = `|v|(triplet 8g+2i) |
//!   |v|(triplet 8g+2i+1) << 4`) and one sign plane (byte `r` bit `s` = sign of triplet
//!   `8g+s`). Length `⌈rows/64⌉·(256 + 320·⌈cols/24⌉)` ([`lut3_packed_len`]).
//!
//! So any `rows ≥ 0` and any `cols` up to [`LUT_MAX_COLS`] are accepted by both families; the
//! padding costs at most 63 rows and 3 (lut2) or 23 (lut3) columns of zero weights, which
//! no real shape needs (2B-4T's are multiples of 64 and 128).
//!
//! Bytes the packers never write still read consistently where that is free: lut2 nibbles
//! 9..=15 and lut3 magnitudes 14 and 15 are zero weights at every level (the tables' unused
//! entries are 0). A lut3 header that does not count the sign bits makes the levels disagree
//! (never an out-of-bounds access); packed matrices are made in-process by [`lut3_pack`].
//!
//! # Exact arithmetic in byte lookups
//! A pair's table entries lie in [−256, 256] and a triplet's in [−384, 384]: not bytes. Each
//! table is stored as i16 split into a low-byte and a high-byte table; two `pshufb` fetch both
//! halves, `punpckl/hbw` interleaves them back into exact i16 lanes, which are summed in i16 and
//! widened into i32 before they can overflow (63 quads for lut2: 63·2·256 ≤ 32767; 80 triplets
//! for lut3: 80·385 ≤ 32767).
//!
//! A negative lut3 triplet needs `−T`. Negating a value split over two bytes needs a carry, but
//! complementing does not: both bytes are XORed with the sign mask, giving `!T = −T − 1`. The
//! missing `+1` per negative triplet depends only on the weights, so [`lut3_pack`] stores each
//! row's count in the tile header and the portable and SIMD kernels add it at the end. The
//! scalar reference negates plainly and ignores the header: the tests tie both to a naive
//! `Σ w·q`.
//!
//! The tables are built with SIMD too (`vpsignw` by the ±1/0 weight patterns, one `pshufb`
//! and one `vpermq` to split the bytes): about 2.5 µs for 6912 columns, a few percent of a
//! 2560-row call. Built by plain code compiled for the baseline target they cost 10–15 µs.
//!
//! # Levels
//! | [`Level`]     | lut2 / lut3                                                        |
//! |---------------|--------------------------------------------------------------------|
//! | `Scalar`      | the reference: i16 tables, one lookup per weight group and row     |
//! | `Portable`    | the same loops under pulp's target features (auto-vectorised; NEON)|
//! | `Avx2`        | `vpshufb` on 32 rows per register (pulp `V3`)                      |
//! | `Avx512`      | `vpshufb` on 64 rows per register (pulp `V4`, AVX-512BW)           |
//! | `Avx512Vnni`  | no dedicated code: runs `Avx512`                                   |
//!
//! VNNI has no use here: the sums are lookups, not products. VBMI was tried for lut2 on Zen 4
//! and not kept. One 128-entry `vpermi2b` per byte half looked up a whole quad byte (four
//! weights), with a masked `vpermb` patching the lanes whose high pair index is 8 (bit 7, which
//! `vpermi2b` ignores): 6 shuffles per quad and 64 rows instead of 9. The lookups ran no faster
//! than `vpshufb` (≈96 µs for 2560×6912 either way: the `vpshufb` kernel already issues about
//! two 512-bit operations per cycle), and its 384-byte-per-quad tables took ≈12 µs to build
//! instead of ≈2.5.
//!
//! # Threads
//! The kernels are single-threaded. They allocate the activation tables once per call
//! (`cols/2·32` bytes for lut2, `cols/3·32` for lut3) and nothing per row. A caller splits the
//! work by tiles: rows `64·t0 .. 64·t1` are the packed bytes of tiles `t0..t1` with `out`
//! sliced to match (the last slice may end at `rows`), and the tables are rebuilt per slice.

mod pair;
#[cfg(test)]
mod tests;
mod triplet;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use pair::{
    lut2_gemv, lut2_gemv_at, lut2_gemv_scalar, lut2_pack, lut2_packed_len, lut2_unpack,
};
pub use triplet::{
    lut3_gemv, lut3_gemv_at, lut3_gemv_scalar, lut3_pack, lut3_packed_len, lut3_unpack,
};

use crate::Level;

/// Rows per tile of both packed layouts: one AVX-512 register of byte lanes.
pub const LUT_TILE_ROWS: usize = 64;

/// Largest `cols` the kernels accept: `|Σ w·q| ≤ 128·cols` must fit in i32.
pub const LUT_MAX_COLS: usize = (i32::MAX as usize) / 128;

/// Checks the input of a pack function. Bad lengths or values are caller bugs (the engine
/// converts validated tensors), so they panic with a message naming the culprit.
fn check_codes(name: &str, codes: &[i8], rows: usize, cols: usize) {
    assert_eq!(
        Some(codes.len()),
        rows.checked_mul(cols),
        "{name}: {} codes for a {rows}x{cols} matrix (needs rows*cols)",
        codes.len()
    );
    assert!(
        cols <= LUT_MAX_COLS,
        "{name}: cols = {cols} > {LUT_MAX_COLS} could overflow i32"
    );
    if let Some(i) = codes.iter().position(|c| !(-1..=1).contains(c)) {
        panic!(
            "{name}: code {} at row {}, col {} is not a ternary weight (-1, 0, 1)",
            codes[i],
            i / cols,
            i % cols
        );
    }
}

/// Checks the shapes every gemv implementation relies on.
fn check_gemv(
    name: &str,
    packed_len: usize,
    packed: &[u8],
    rows: usize,
    cols: usize,
    q: &[i8],
    out: &[i32],
) {
    assert!(
        cols <= LUT_MAX_COLS,
        "{name}: cols = {cols} > {LUT_MAX_COLS} could overflow i32"
    );
    assert_eq!(
        packed.len(),
        packed_len,
        "{name}: packed has {} bytes, a {rows}x{cols} matrix packs into {packed_len}",
        packed.len()
    );
    assert_eq!(
        q.len(),
        cols,
        "{name}: q has {} values, cols = {cols}",
        q.len()
    );
    assert_eq!(
        out.len(),
        rows,
        "{name}: out has {} slots, rows = {rows}",
        out.len()
    );
}

/// A forced level the CPU cannot run is a caller bug (iterate [`Level::available`]).
fn check_level(name: &str, level: Level) {
    assert!(
        level.is_available(),
        "{name}: this CPU cannot run level {level}"
    );
}

/// The table of one group of `N` activations: entry `i` = `Σ_n w[n][i]·q_n`. `w` holds the
/// weight pattern of every entry (zero for unused entries), so this is a fixed-size
/// multiply-add that vectorises; |entry| ≤ 3·128 fits i16.
#[inline(always)]
fn table<const N: usize>(qs: &[i8; N], w: &[[i16; 16]; N]) -> [i16; 16] {
    let mut t = [0i16; 16];
    for (wn, &qn) in w.iter().zip(qs) {
        for (e, &wi) in t.iter_mut().zip(wn) {
            *e += wi * i16::from(qn);
        }
    }
    t
}

/// `q` zero-padded to `len`: the padding's weights are zero, and so its table entries.
fn padded(q: &[i8], len: usize) -> Vec<i8> {
    let mut padded = q.to_vec();
    padded.resize(len, 0);
    padded
}

/// One i16 table per group of `N` activations (the scalar and portable levels). Inlined so the
/// portable level builds its tables under its own target features.
#[inline(always)]
fn build_tables<const N: usize>(q: &[i8], groups: usize, w: &[[i16; 16]; N]) -> Vec<[i16; 16]> {
    let q = padded(q, groups * N);
    let mut tables = vec![[0i16; 16]; groups];
    for (t, qs) in tables.iter_mut().zip(q.as_chunks::<N>().0) {
        *t = table(qs, w);
    }
    tables
}
