//! Workgroup counts within the per-dimension dispatch limit.

// Names the doc comments link to.
#[cfg(doc)]
#[allow(unused_imports)]
use crate::*;
/// Most workgroups per dispatch dimension that every wgpu device accepts
/// (`max_compute_workgroups_per_dimension` default).
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Workgroup counts for a one-workgroup-per-row shader: rows go in x, and
/// spill into y past [`MAX_WORKGROUPS_PER_DIM`]. The shaders compute
/// `row = wid.x + wid.y · num_workgroups.x` and skip rows `>= rows`, so the few
/// surplus workgroups of the last y slice do nothing.
pub fn workgroups_for_rows(rows: u32) -> [u32; 3] {
    if rows == 0 {
        return [0, 1, 1];
    }
    let x = rows.min(MAX_WORKGROUPS_PER_DIM);
    [x, rows.div_ceil(x), 1]
}

/// Workgroup counts for a one-invocation-per-item shader of workgroup size
/// `wg`: `ceil(total / wg)` workgroups laid out as [`workgroups_for_rows`]
/// does. The shaders compute
/// `idx = (wid.x + wid.y · num_workgroups.x) · wg + local_index` and skip
/// `idx >= total`; that u32 index cannot wrap while `total ≤ 2³¹` and
/// `wg ≤ 256`.
///
/// # Panics
/// If `wg == 0`.
pub fn workgroups_for_threads(total: u32, wg: u32) -> [u32; 3] {
    assert!(wg > 0, "workgroups_for_threads: workgroup size 0");
    workgroups_for_rows(total.div_ceil(wg))
}
