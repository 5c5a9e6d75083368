//! Reader/writer round trips and hostile-input checks.

use super::*;
use crate::formats::TensorType;
use proptest::prelude::*;

fn write(w: &GgufWriter) -> Vec<u8> {
    let mut out = Vec::new();
    w.write_with(&mut out, |n| {
        Err(GgufError::Write(format!("no data for {n}")))
    })
    .expect("write");
    out
}

fn sample_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_kv(
        "general.architecture",
        GgufValue::String("bitnet-b1.58".into()),
    );
    w.add_kv("a.u8", GgufValue::U8(7));
    w.add_kv("a.i8", GgufValue::I8(-7));
    w.add_kv("a.u16", GgufValue::U16(65535));
    w.add_kv("a.i16", GgufValue::I16(-300));
    w.add_kv("a.u32", GgufValue::U32(1 << 31));
    w.add_kv("a.i32", GgufValue::I32(-1));
    w.add_kv("a.f32", GgufValue::F32(1.5));
    w.add_kv("a.bool", GgufValue::Bool(true));
    w.add_kv("a.str", GgufValue::String("héllo".into()));
    w.add_kv("a.u64", GgufValue::U64(u64::MAX));
    w.add_kv("a.i64", GgufValue::I64(i64::MIN));
    w.add_kv("a.f64", GgufValue::F64(-2.25));
    w.add_kv(
        "a.nested",
        GgufValue::Array(
            GgufValueType::Array,
            vec![
                GgufValue::Array(
                    GgufValueType::I32,
                    vec![GgufValue::I32(1), GgufValue::I32(2)],
                ),
                GgufValue::Array(GgufValueType::String, vec![GgufValue::String("x".into())]),
                GgufValue::Array(GgufValueType::U8, vec![]),
            ],
        ),
    );
    w.add_tensor("t.f32", &[3, 2], TensorType::F32, (0..24).collect())
        .expect("tensor");
    w.add_tensor(
        "t.i2s",
        &[128, 2],
        TensorType::I2_S,
        vec![0x55; 2 * 32 + 32],
    )
    .expect("tensor");
    w
}

#[test]
fn round_trip_keeps_every_value_type_and_tensor_bytes() {
    let w = sample_writer();
    let bytes = write(&w);
    let f = GgufFile::from_bytes(bytes).expect("parse");
    assert_eq!(f.version, 3);
    assert_eq!(f.metadata().len(), 14);
    assert_eq!(f.get("a.i64"), Some(&GgufValue::I64(i64::MIN)));
    assert_eq!(f.get("a.str").and_then(GgufValue::as_str), Some("héllo"));
    let nested = f
        .get("a.nested")
        .and_then(GgufValue::as_array)
        .expect("nested");
    assert_eq!(
        nested[0],
        GgufValue::Array(
            GgufValueType::I32,
            vec![GgufValue::I32(1), GgufValue::I32(2)]
        )
    );
    assert_eq!(nested[2], GgufValue::Array(GgufValueType::U8, vec![]));
    let t = f.tensor("t.f32").expect("t.f32");
    assert_eq!(
        (t.ty, t.dims.clone(), t.nbytes),
        (TensorType::F32, vec![3, 2], 24)
    );
    assert_eq!(&*f.tensor_data(t), &(0..24).collect::<Vec<u8>>()[..]);
    let t = f.tensor("t.i2s").expect("t.i2s");
    assert_eq!((t.ty, t.nbytes, t.offset % 32), (TensorType::I2_S, 96, 0));
    assert_eq!(f.tensor_data(t).len(), 96);
    assert_eq!(f.data_offset % 32, 0);
}

#[test]
fn type_39_depends_on_architecture() {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", GgufValue::String("llama".into()));
    w.add_tensor("m", &[32], TensorType::MXFP4, vec![0; 17])
        .expect("tensor");
    let f = GgufFile::from_bytes(write(&w)).expect("parse");
    assert_eq!(f.tensors()[0].ty, TensorType::MXFP4);
    // Type 36 outside a bitnet architecture is not I2_S: reject it.
    let mut bytes = write(&sample_writer());
    let at = find(&bytes, b"bitnet-b1.58").expect("arch string");
    bytes[at..at + 12].copy_from_slice(b"llama-b1.58.");
    let err = GgufFile::from_bytes(bytes).expect_err("36 is not a type outside bitnet");
    assert!(
        err.to_string().contains("unknown tensor type id 36"),
        "{err}"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn alignment_key_is_honoured() {
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", GgufValue::U32(64));
    w.add_tensor("a", &[3], TensorType::F32, vec![1; 12])
        .expect("a");
    w.add_tensor("b", &[5], TensorType::F32, vec![2; 20])
        .expect("b");
    let f = GgufFile::from_bytes(write(&w)).expect("parse");
    assert_eq!(f.alignment, 64);
    assert_eq!(f.data_offset % 64, 0);
    assert_eq!(f.tensor("b").expect("b").offset, 64);
    assert_eq!(&*f.tensor_data(f.tensor("b").expect("b")), &[2; 20]);
}

#[test]
fn bad_alignment_is_rejected() {
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", GgufValue::U32(3));
    assert!(w.write_with(&mut Vec::new(), |_| Ok(vec![])).is_err());
}

fn err_of(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn wrong_magic() {
    let mut b = write(&sample_writer());
    b[0..4].copy_from_slice(b"GGML");
    assert!(err_of(b).contains("not a GGUF file"));
}

#[test]
fn unsupported_version() {
    let mut b = write(&sample_writer());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(err_of(b).contains("unsupported GGUF version 1"));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let b = write(&sample_writer());
    for len in 0..b.len() {
        let e = err_of(b[..len].to_vec());
        assert!(
            e.contains("truncated") || e.contains("past the end") || e.contains("not a GGUF"),
            "len {len}: {e}"
        );
    }
}

#[test]
fn huge_string_length_names_the_key() {
    let mut w = GgufWriter::new();
    w.add_kv("general.name", GgufValue::String("abc".into()));
    let mut b = write(&w);
    // header 24 bytes, key length 8, key 12, type 4, then the value's u64 length.
    let at = 24 + 8 + "general.name".len() + 4;
    b[at..at + 8].copy_from_slice(&(1u64 << 63).to_le_bytes());
    let e = err_of(b);
    assert!(
        e.contains("general.name") && e.contains("9223372036854775808"),
        "{e}"
    );
}

#[test]
fn huge_counts_are_rejected_before_allocating() {
    let mut b = write(&sample_writer());
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err_of(b).contains("tensor count"));
    let mut b = write(&sample_writer());
    b[16..24].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(err_of(b).contains("metadata count"));
}

#[test]
fn tensor_offset_past_end_names_the_tensor() {
    let w = sample_writer();
    let mut b = write(&w);
    // The last tensor info ends with its u64 offset, right before the data section padding.
    let f = GgufFile::from_bytes(b.clone()).expect("parse");
    let info = f.tensor("t.i2s").expect("t.i2s").clone();
    let off_at = info.info_offset as usize + 8 + "t.i2s".len() + 4 + 2 * 8 + 4;
    b[off_at..off_at + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let e = err_of(b);
    assert!(e.contains("t.i2s") && e.contains("past the end"), "{e}");
}

#[test]
fn misaligned_and_overlapping_tensors_are_rejected() {
    let w = sample_writer();
    let b = write(&w);
    let f = GgufFile::from_bytes(b.clone()).expect("parse");
    let info = f.tensor("t.i2s").expect("t.i2s").clone();
    let off_at = info.info_offset as usize + 8 + "t.i2s".len() + 4 + 2 * 8 + 4;
    let mut m = b.clone();
    m[off_at..off_at + 8].copy_from_slice(&4u64.to_le_bytes());
    assert!(err_of(m).contains("not a multiple of the alignment"));
    let mut m = b;
    m[off_at..off_at + 8].copy_from_slice(&0u64.to_le_bytes());
    assert!(err_of(m).contains("overlaps"));
}

#[test]
fn unknown_tensor_type_is_named() {
    let w = sample_writer();
    let mut b = write(&w);
    let f = GgufFile::from_bytes(b.clone()).expect("parse");
    let info = f.tensor("t.f32").expect("t.f32").clone();
    let ty_at = info.info_offset as usize + 8 + "t.f32".len() + 4 + 2 * 8;
    b[ty_at..ty_at + 4].copy_from_slice(&77u32.to_le_bytes());
    let e = err_of(b);
    assert!(
        e.contains("t.f32") && e.contains("unknown tensor type id 77"),
        "{e}"
    );
}

#[test]
fn shape_that_breaks_the_type_rule_is_named() {
    let w = sample_writer();
    let mut b = write(&w);
    let f = GgufFile::from_bytes(b.clone()).expect("parse");
    let info = f.tensor("t.f32").expect("t.f32").clone();
    let ty_at = info.info_offset as usize + 8 + "t.f32".len() + 4 + 2 * 8;
    b[ty_at..ty_at + 4].copy_from_slice(&8u32.to_le_bytes()); // Q8_0 needs rows of 32k
    let e = err_of(b);
    assert!(
        e.contains("t.f32") && e.contains("multiple of the block size"),
        "{e}"
    );
}

#[test]
fn absurd_dims_overflow_is_an_error() {
    let w = sample_writer();
    let mut b = write(&w);
    let f = GgufFile::from_bytes(b.clone()).expect("parse");
    let info = f.tensor("t.f32").expect("t.f32").clone();
    let dim_at = info.info_offset as usize + 8 + "t.f32".len() + 4;
    b[dim_at..dim_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err_of(b).contains("overflows"));
}

#[test]
fn bad_bool_and_value_type() {
    let mut w = GgufWriter::new();
    w.add_kv("k", GgufValue::Bool(true));
    let mut b = write(&w);
    let at = 24 + 8 + 1 + 4;
    b[at] = 2;
    assert!(err_of(b.clone()).contains("bool byte is 2"));
    b[at - 4..at].copy_from_slice(&13u32.to_le_bytes());
    assert!(err_of(b).contains("unknown value type 13"));
}

#[test]
fn deeply_nested_arrays_are_rejected() {
    let mut v = GgufValue::Array(GgufValueType::U8, vec![]);
    for _ in 0..10 {
        v = GgufValue::Array(GgufValueType::Array, vec![v]);
    }
    let mut w = GgufWriter::new();
    w.add_kv("deep", v);
    assert!(err_of(write(&w)).contains("nested deeper"));
}

#[test]
fn writer_rejects_wrong_sizes_and_mixed_arrays() {
    let mut w = GgufWriter::new();
    assert!(
        w.add_tensor("x", &[128, 2], TensorType::I2_S, vec![0; 64])
            .is_err()
    );
    assert!(
        w.add_tensor("y", &[31], TensorType::Q8_0, vec![0; 34])
            .is_err()
    );
    w.add_kv(
        "mixed",
        GgufValue::Array(GgufValueType::U8, vec![GgufValue::I8(1)]),
    );
    assert!(w.write_with(&mut Vec::new(), |_| Ok(vec![])).is_err());
}

fn arb_scalar() -> impl Strategy<Value = GgufValue> {
    prop_oneof![
        any::<u8>().prop_map(GgufValue::U8),
        any::<i8>().prop_map(GgufValue::I8),
        any::<u16>().prop_map(GgufValue::U16),
        any::<i16>().prop_map(GgufValue::I16),
        any::<u32>().prop_map(GgufValue::U32),
        any::<i32>().prop_map(GgufValue::I32),
        any::<u64>().prop_map(GgufValue::U64),
        any::<i64>().prop_map(GgufValue::I64),
        (-1e30f32..1e30).prop_map(GgufValue::F32),
        (-1e300f64..1e300).prop_map(GgufValue::F64),
        any::<bool>().prop_map(GgufValue::Bool),
        ".{0,12}".prop_map(GgufValue::String),
    ]
}

fn arb_value() -> impl Strategy<Value = GgufValue> {
    arb_scalar().prop_recursive(2, 16, 4, |inner| {
        // Arrays are homogeneous: n copies of one element (itself possibly an array).
        (inner, 0usize..4)
            .prop_map(|(proto, n)| GgufValue::Array(proto.value_type(), vec![proto; n]))
    })
}

proptest! {
    #[test]
    fn any_metadata_round_trips(kvs in proptest::collection::btree_map("[a-z.]{1,10}", arb_value(), 0..8),
                                data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut w = GgufWriter::new();
        for (k, v) in &kvs {
            w.add_kv(k.clone(), v.clone());
        }
        let n = data.len() as u64;
        w.add_tensor("t", &[n], TensorType::I8, data.clone()).expect("tensor");
        let f = GgufFile::from_bytes(write(&w)).expect("parse");
        for (k, v) in &kvs {
            prop_assert_eq!(f.get(k), Some(v));
        }
        prop_assert_eq!(&*f.tensor_data(f.tensor("t").expect("t")), &data[..]);
    }

    #[test]
    fn mutated_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = write(&sample_writer());
        for (i, v) in flips {
            let at = i.index(b.len());
            b[at] = v;
        }
        if let Ok(f) = GgufFile::from_bytes(b) {
            for t in f.tensors() {
                let _ = f.tensor_data(t).len();
            }
        }
    }
}
