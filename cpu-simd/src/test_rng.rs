//! The deterministic generator the kernel tests draw bytes and activations from.

/// xorshift64 from `seed` (made odd, so never the fixed point 0).
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}
