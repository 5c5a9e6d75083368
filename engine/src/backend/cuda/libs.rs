//! The two libraries the backend loads at run time, the driver (libcuda) and NVRTC
//! (libnvrtc): whether they are here and which versions they are.
//!
//! Why every entry point goes through these checks: cudarc loads a library on its first call
//! and panics when it is missing, so nothing may call into it before [`driver`] or [`nvrtc`]
//! said yes. The answers are cached: looking costs a few `dlopen` attempts, and a library
//! does not appear or vanish while the process runs.

use super::CudaError;
use cudarc::driver::sys as drv;
use cudarc::nvrtc::sys as rtc;
use std::sync::OnceLock;

/// The oldest driver API the backend accepts (11.4): every call it makes exists there, and
/// stream-ordered allocation (11.2) is what frees buffers without a synchronisation.
const MIN_DRIVER: i32 = 11_040;

/// A CUDA version as the libraries report it (`major * 1000 + minor * 10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CudaVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl CudaVersion {
    /// From the driver's encoding, `1000 * major + 10 * minor`.
    pub fn from_driver(v: i32) -> Self {
        let v = v.max(0) as u32;
        CudaVersion {
            major: v / 1000,
            minor: (v % 1000) / 10,
        }
    }
}

impl std::fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The driver's CUDA version, or why the driver cannot be used. Safe to call anywhere: it
/// never loads a library that is not there.
pub fn driver() -> Result<CudaVersion, CudaError> {
    static DRIVER: OnceLock<Result<CudaVersion, CudaError>> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            // SAFETY: only tries to dlopen the library's candidate names.
            if !unsafe { drv::is_culib_present() } {
                return Err(CudaError::NoDriver);
            }
            let mut v = 0i32;
            // SAFETY: the library is present (checked above); the call writes one int.
            unsafe { drv::cuDriverGetVersion(&mut v) }
                .result()
                .map_err(|e| CudaError::driver("cuDriverGetVersion", e))?;
            if v < MIN_DRIVER {
                return Err(CudaError::OldDriver {
                    found: CudaVersion::from_driver(v).to_string(),
                    needed: CudaVersion::from_driver(MIN_DRIVER).to_string(),
                });
            }
            Ok(CudaVersion::from_driver(v))
        })
        .clone()
}

/// NVRTC's version, or [`CudaError::NoNvrtc`]. Safe to call anywhere, as [`driver`].
pub fn nvrtc() -> Result<CudaVersion, CudaError> {
    static NVRTC: OnceLock<Result<CudaVersion, CudaError>> = OnceLock::new();
    NVRTC
        .get_or_init(|| {
            // SAFETY: only tries to dlopen the library's candidate names.
            if !unsafe { rtc::is_culib_present() } {
                return Err(CudaError::NoNvrtc);
            }
            let (mut major, mut minor) = (0i32, 0i32);
            // SAFETY: the library is present; the call writes two ints.
            let r = unsafe { rtc::nvrtcVersion(&mut major, &mut minor) };
            if r != rtc::nvrtcResult::NVRTC_SUCCESS {
                return Err(CudaError::Driver {
                    what: "nvrtcVersion".into(),
                    error: format!("{r:?}"),
                });
            }
            Ok(CudaVersion {
                major: major.max(0) as u32,
                minor: minor.max(0) as u32,
            })
        })
        .clone()
}

/// The architectures NVRTC can target, as `major * 10 + minor`, ascending; empty when this
/// NVRTC cannot say (before 11.2).
pub(crate) fn nvrtc_archs() -> Result<Vec<u32>, CudaError> {
    let v = nvrtc()?;
    if v < (CudaVersion {
        major: 11,
        minor: 2,
    }) {
        return Ok(Vec::new());
    }
    let mut n = 0i32;
    // SAFETY: NVRTC is present and has this entry point (11.2+); the call writes one int.
    let r = unsafe { rtc::nvrtcGetNumSupportedArchs(&mut n) };
    if r != rtc::nvrtcResult::NVRTC_SUCCESS || n <= 0 {
        return Ok(Vec::new());
    }
    let mut archs = vec![0i32; n as usize];
    // SAFETY: `archs` holds the `n` ints the call writes.
    let r = unsafe { rtc::nvrtcGetSupportedArchs(archs.as_mut_ptr()) };
    if r != rtc::nvrtcResult::NVRTC_SUCCESS {
        return Ok(Vec::new());
    }
    let mut archs: Vec<u32> = archs
        .into_iter()
        .filter_map(|a| u32::try_from(a).ok())
        .collect();
    archs.sort_unstable();
    Ok(archs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_versions_decode_as_major_and_minor() {
        assert_eq!(
            CudaVersion::from_driver(12_080),
            CudaVersion {
                major: 12,
                minor: 8
            }
        );
        assert_eq!(CudaVersion::from_driver(11_040).to_string(), "11.4");
        assert_eq!(CudaVersion::from_driver(-1).to_string(), "0.0");
        assert!(CudaVersion::from_driver(12_000) > CudaVersion::from_driver(11_080));
    }

    #[test]
    fn asking_without_the_libraries_answers_instead_of_panicking() {
        // On a machine without CUDA both say what is missing; with CUDA, both give versions.
        match driver() {
            Ok(v) => assert!(v.major >= 11),
            Err(e) => assert!(
                matches!(e, CudaError::NoDriver | CudaError::OldDriver { .. }),
                "{e}"
            ),
        }
        match nvrtc() {
            Ok(v) => assert!(v.major >= 10),
            Err(e) => assert_eq!(e, CudaError::NoNvrtc),
        }
        // Cached: the same answer again.
        assert_eq!(driver(), driver());
    }
}
