//! Resource thresholds checked by `/health/ready`: the `--ready-*` ones flip readiness to 503
//! `overloaded` (a load balancer then routes elsewhere; the model keeps serving what it has),
//! the `--warn-*` ones only add a warning to the answer and the log.

/// What one check sees.
pub struct Observed {
    /// Requests waiting for a slot.
    pub waiting: usize,
    /// Resident memory of the process, in MiB (`None` where it cannot be read).
    pub rss_mib: Option<u64>,
}

/// The thresholds, from the command line (`None`: not checked).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Thresholds {
    /// Report not ready (503 overloaded) while this many requests or more wait for a slot.
    #[arg(long)]
    pub ready_max_waiting: Option<usize>,
    /// Report not ready (503 overloaded) while the process's resident memory exceeds this.
    #[arg(long)]
    pub ready_max_rss_mb: Option<u64>,
    /// Only warn (in `/health/ready` and the log) from this many waiting requests.
    #[arg(long)]
    pub warn_waiting: Option<usize>,
    /// Only warn (in `/health/ready` and the log) while resident memory exceeds this.
    #[arg(long)]
    pub warn_rss_mb: Option<u64>,
}

/// The result of a check: reasons that flip readiness, and warnings.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// Why the server should not take more traffic now.
    pub overloaded: Vec<String>,
    /// What is worth a look but does not change readiness.
    pub warnings: Vec<String>,
}

impl Thresholds {
    /// Whether any memory threshold is set (reading RSS costs a system call).
    pub fn needs_rss(&self) -> bool {
        self.ready_max_rss_mb.is_some() || self.warn_rss_mb.is_some()
    }

    /// Checks `o` against every threshold set.
    pub fn check(&self, o: &Observed) -> Verdict {
        let mut v = Verdict::default();
        let waiting = |limit: usize| {
            format!(
                "{} requests waiting for a slot (threshold {limit})",
                o.waiting
            )
        };
        let rss =
            |rss: u64, limit: u64| format!("resident memory {rss} MiB (threshold {limit} MiB)");
        if let Some(limit) = self.ready_max_waiting
            && o.waiting >= limit
        {
            v.overloaded.push(waiting(limit));
        }
        if let (Some(limit), Some(r)) = (self.ready_max_rss_mb, o.rss_mib)
            && r > limit
        {
            v.overloaded.push(rss(r, limit));
        }
        if let Some(limit) = self.warn_waiting
            && o.waiting >= limit
        {
            v.warnings.push(waiting(limit));
        }
        if let (Some(limit), Some(r)) = (self.warn_rss_mb, o.rss_mib)
            && r > limit
        {
            v.warnings.push(rss(r, limit));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_thresholds_flip_and_warn_thresholds_only_warn() {
        let t = Thresholds {
            ready_max_waiting: Some(4),
            ready_max_rss_mb: Some(1000),
            warn_waiting: Some(2),
            warn_rss_mb: Some(500),
        };
        let calm = t.check(&Observed {
            waiting: 0,
            rss_mib: Some(100),
        });
        assert_eq!(calm, Verdict::default());
        let busy = t.check(&Observed {
            waiting: 3,
            rss_mib: Some(600),
        });
        assert!(busy.overloaded.is_empty());
        assert_eq!(busy.warnings.len(), 2, "{busy:?}");
        let full = t.check(&Observed {
            waiting: 4,
            rss_mib: Some(2000),
        });
        assert_eq!(full.overloaded.len(), 2, "{full:?}");
        assert!(full.overloaded[1].contains("2000 MiB") && full.overloaded[1].contains("1000 MiB"));
        // Unknown memory never trips a memory threshold.
        assert!(
            t.check(&Observed {
                waiting: 0,
                rss_mib: None
            })
            .warnings
            .is_empty()
        );
        assert_eq!(
            Thresholds::default().check(&Observed {
                waiting: 99,
                rss_mib: Some(1 << 20)
            }),
            Verdict::default()
        );
    }
}
