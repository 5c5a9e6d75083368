//! `--device`: the grammar `auto | cpu | wgpu[:N] | cuda[:N]`.

use super::DeviceError;
use std::fmt;
use std::str::FromStr;

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceRequest {
    /// The best usable device (highest [`super::assess`] score).
    #[default]
    Auto,
    /// The host CPU.
    Cpu,
    /// A wgpu adapter: `Some(N)` is `wgpu:N`, `None` the best-scoring adapter.
    Wgpu(Option<usize>),
    /// A CUDA device: `Some(N)` is `cuda:N`, `None` the best one.
    Cuda(Option<usize>),
}

const EXPECTED: &str = "expected auto, cpu, wgpu, wgpu:N, cuda or cuda:N";

impl FromStr for DeviceRequest {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, DeviceError> {
        let bad = |why: String| DeviceError::BadRequest {
            given: s.to_string(),
            why,
        };
        let lower = s.trim().to_ascii_lowercase();
        let (kind, index) = match lower.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (lower.as_str(), None),
        };
        let index = index
            .map(|i| {
                // `parse` alone would take "+1"; an index is digits only.
                if i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(format!(
                        "'{i}' is not a device index (a number, as in {kind}:0)"
                    )));
                }
                i.parse::<usize>()
                    .map_err(|_| bad(format!("'{i}' is too large for a device index")))
            })
            .transpose()?;
        match (kind, index) {
            ("auto", None) => Ok(DeviceRequest::Auto),
            ("cpu", None) => Ok(DeviceRequest::Cpu),
            ("auto" | "cpu", Some(_)) => Err(bad(format!("{kind} takes no index; {EXPECTED}"))),
            ("wgpu", i) => Ok(DeviceRequest::Wgpu(i)),
            ("cuda", i) => Ok(DeviceRequest::Cuda(i)),
            _ => Err(bad(format!("unknown device '{kind}'; {EXPECTED}"))),
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::Auto => f.write_str("auto"),
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Wgpu(None) => f.write_str("wgpu"),
            DeviceRequest::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceRequest::Cuda(None) => f.write_str("cuda"),
            DeviceRequest::Cuda(Some(i)) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<DeviceRequest, String> {
        s.parse::<DeviceRequest>().map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_parses_and_prints_back() {
        for (text, want) in [
            ("auto", DeviceRequest::Auto),
            ("cpu", DeviceRequest::Cpu),
            ("wgpu", DeviceRequest::Wgpu(None)),
            ("wgpu:0", DeviceRequest::Wgpu(Some(0))),
            ("wgpu:12", DeviceRequest::Wgpu(Some(12))),
            ("cuda", DeviceRequest::Cuda(None)),
            ("cuda:1", DeviceRequest::Cuda(Some(1))),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
            assert_eq!(want.to_string(), text);
        }
        assert_eq!(parse(" WGPU:1 "), Ok(DeviceRequest::Wgpu(Some(1))));
    }

    #[test]
    fn bad_values_say_what_is_wrong_and_what_is_accepted() {
        let e = parse("wgpu:x").expect_err("refused");
        assert!(
            e.contains("'wgpu:x'") && e.contains("'x' is not a device index"),
            "{e}"
        );
        let e = parse("tpu").expect_err("refused");
        assert!(
            e.contains("unknown device 'tpu'") && e.contains("wgpu:N"),
            "{e}"
        );
        let e = parse("cpu:0").expect_err("refused");
        assert!(e.contains("cpu takes no index"), "{e}");
        for s in [
            "wgpu:",
            "wgpu:-1",
            "wgpu:+1",
            "wgpu:1:2",
            "",
            ":0",
            "gpu",
            "wgpu:99999999999999999999999",
        ] {
            assert!(parse(s).is_err(), "{s:?} accepted");
        }
    }
}
