//! Instruction-set levels a kernel can run at, detected at run time, and forceable.
//!
//! Every kernel family in this crate has a `*_at(level, …)` entry point beside its dispatching
//! one, so tests and benches can run each implementation the machine supports, not only the
//! best: one binary has to be correct at every level it may meet on another CPU.

/// One implementation level. A kernel asked for a level it has no dedicated code for runs its
/// nearest lower implementation (documented per kernel); a level the CPU cannot run is never
/// entered ([`Level::is_available`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Plain scalar Rust, the reference every other level must equal.
    Scalar,
    /// The portable loops compiled under pulp's best target features (NEON on aarch64,
    /// auto-vectorised x86 code elsewhere).
    Portable,
    /// x86-64-v3: AVX2 + FMA + F16C.
    Avx2,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL.
    Avx512,
    /// x86-64-v4 plus AVX-512 VNNI (`vpdpbusd`).
    Avx512Vnni,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 5] = [
        Level::Scalar,
        Level::Portable,
        Level::Avx2,
        Level::Avx512,
        Level::Avx512Vnni,
    ];

    /// Whether this CPU can run code of this level.
    pub fn is_available(self) -> bool {
        match self {
            Level::Scalar | Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => pulp::x86::V3::try_new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => pulp::x86::V4::try_new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => {
                pulp::x86::V4::try_new().is_some() && crate::i2s_gemv::has_avx512_vnni()
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The levels this CPU can run, lowest first.
    pub fn available() -> Vec<Level> {
        Level::ALL
            .into_iter()
            .filter(|l| l.is_available())
            .collect()
    }

    /// The best level this CPU can run (what the dispatching entry points use).
    pub fn detect() -> Level {
        Level::ALL
            .into_iter()
            .rev()
            .find(|l| l.is_available())
            .unwrap_or(Level::Scalar)
    }

    /// A short name for tables and bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Avx512Vnni => "avx512-vnni",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_is_the_best_available() {
        let avail = Level::available();
        assert_eq!(avail[0], Level::Scalar);
        assert_eq!(
            Level::detect(),
            *avail.last().expect("scalar is always there")
        );
        assert!(avail.windows(2).all(|w| w[0] < w[1]));
    }
}
