//! Why a `--device` value cannot be used.

use super::DeviceId;

/// A device request is malformed, names nothing, or names a device that cannot run the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The text is not a device name.
    #[error("bad device '{given}': {why}")]
    BadRequest {
        /// What was given.
        given: String,
        /// What is wrong, and what is accepted.
        why: String,
    },
    /// The backend for this device is not in this build.
    #[error("{device}: {why}")]
    NotBuilt {
        /// The device asked for.
        device: String,
        /// Which backend is missing and what to use instead.
        why: String,
    },
    /// The backend is built but cannot be used on this machine (no driver, for one).
    #[error("{device}: {why}")]
    Unavailable {
        /// The device asked for.
        device: String,
        /// What is missing.
        why: String,
    },
    /// No such device on this machine.
    #[error("{device} does not exist: {why}")]
    NotFound {
        /// The device asked for.
        device: String,
        /// What exists.
        why: String,
    },
    /// The device exists but cannot run this model.
    #[error("{device} ({name}) cannot run this model: {why}")]
    Unusable {
        /// The device.
        device: DeviceId,
        /// Its name.
        name: String,
        /// Every reason, joined.
        why: String,
    },
    /// `auto` found no device that can run the model.
    #[error("no device can run this model: {0}")]
    NoneUsable(String),
}
