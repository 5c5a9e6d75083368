//! Batching efficiency of one decode step: `Model::step` on the bundled tiny model with one
//! sequence against eight sequences in the same batch, one thread. Throughput is in tokens, so
//! the ratio of the two lines is what the server's continuous batching gains per token.
use bitnet_engine::backend::CpuBackend;
use bitnet_engine::gguf::GgufFile;
use bitnet_engine::model::{KvCache, LogitsWanted, Model, SeqBatch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// Cached positions before the measured step: a short prompt plus some generated text.
const PAST: usize = 48;

fn bench_model_step(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/bitnet-tiny-synthetic.gguf");
    let file = GgufFile::open(&path).expect("bundled tiny model");
    let backend = CpuBackend::new(1).expect("cpu backend");
    let model = Model::load(&file, backend, |_, _| {}).expect("load tiny model");
    let vocab = model.config.n_vocab as u32;
    let mut group = c.benchmark_group("model_step/tiny_decode");
    for seqs in [1usize, 8] {
        let mut caches: Vec<KvCache<CpuBackend>> = (0..seqs)
            .map(|_| model.new_cache(PAST + 1).expect("cache"))
            .collect();
        for (i, cache) in caches.iter_mut().enumerate() {
            let prompt: Vec<u32> = (0..PAST as u32)
                .map(|t| (t * 7 + i as u32) % vocab)
                .collect();
            let mut b = [SeqBatch {
                cache,
                tokens: &prompt,
                logits: LogitsWanted::None,
            }];
            model.step(&mut b).expect("prefill");
        }
        let next: Vec<[u32; 1]> = (0..seqs as u32).map(|i| [(i * 13) % vocab]).collect();
        group.throughput(Throughput::Elements(seqs as u64));
        group.bench_function(BenchmarkId::new("sequences", seqs), |b| {
            b.iter(|| {
                let mut batch: Vec<SeqBatch<'_, CpuBackend>> = caches
                    .iter_mut()
                    .zip(&next)
                    .map(|(cache, t)| {
                        cache.truncate(PAST);
                        SeqBatch {
                            cache,
                            tokens: t,
                            logits: LogitsWanted::Last,
                        }
                    })
                    .collect();
                black_box(model.step(&mut batch).expect("decode step"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_model_step);
criterion_main!(benches);
