//! Device discovery as `--device auto` and `bitnet devices` run it: the CPU alone, and the CPU
//! with every wgpu adapter and CUDA device this build knows (the target is under 50 ms; the
//! Vulkan loader and its drivers are most of it).
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench_discovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("device_discovery");
    group.sample_size(20);
    group.bench_function("cpu", |b| {
        b.iter(|| black_box(bitnet_engine::device::discover_cpu()))
    });
    group.bench_function("all", |b| {
        b.iter(|| black_box(bitnet_engine::device::discover()))
    });
    group.finish();
}

criterion_group!(benches, bench_discovery);
criterion_main!(benches);
