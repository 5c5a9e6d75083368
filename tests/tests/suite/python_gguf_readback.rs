//! Files from our writer read back through PyPI `gguf` (the upstream reader) with identical
//! metadata and tensor bytes. Needs `python3 -m pip install gguf==0.19.0` (CI installs it).

use bitnet_engine::formats::TensorType;
use bitnet_engine::gguf::{GgufValue as V, GgufValueType as T, GgufWriter};
use bitnet_tests::repo_path;
use std::process::Command;

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(bytes)?;
            c.wait_with_output()
        })
        .expect("python3");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

#[test]
fn pypi_gguf_reads_our_files_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all-types.gguf");
    let mut w = GgufWriter::new();
    let kvs = vec![
        ("general.architecture", V::String("bitnet".into())),
        ("t.u8", V::U8(200)),
        ("t.i8", V::I8(-100)),
        ("t.u16", V::U16(60000)),
        ("t.i16", V::I16(-30000)),
        ("t.u32", V::U32(4_000_000_000)),
        ("t.i32", V::I32(-2_000_000_000)),
        ("t.f32", V::F32(0.15625)),
        ("t.bool", V::Bool(true)),
        ("t.string", V::String("ünïcödé ✓".into())),
        ("t.u64", V::U64(1 << 60)),
        ("t.i64", V::I64(-(1 << 60))),
        ("t.f64", V::F64(-1.0e-300)),
        (
            "t.arr_str",
            V::Array(
                T::String,
                vec![V::String("a b".into()), V::String("".into())],
            ),
        ),
        ("t.arr_i32", V::Array(T::I32, vec![V::I32(-1), V::I32(7)])),
        (
            "t.arr_nested",
            V::Array(
                T::Array,
                vec![
                    V::Array(T::U8, vec![V::U8(1), V::U8(2)]),
                    V::Array(T::U8, vec![]),
                ],
            ),
        ),
    ];
    for (k, v) in &kvs {
        w.add_kv(*k, v.clone());
    }
    let tensors: Vec<(&str, Vec<u64>, TensorType, Vec<u8>)> = vec![
        ("a.f32", vec![4, 3], TensorType::F32, (0..48).collect()),
        (
            "b.f16",
            vec![5],
            TensorType::F16,
            (0..10).map(|i| i * 7).collect(),
        ),
        (
            "c.q8_0",
            vec![64, 2],
            TensorType::Q8_0,
            (0..136).map(|i| (i * 13 % 256) as u8).collect(),
        ),
        (
            "d.tq2_0",
            vec![256, 2],
            TensorType::TQ2_0,
            (0..132).map(|i| (i * 31 % 256) as u8).collect(),
        ),
        (
            "e.tq1_0",
            vec![256],
            TensorType::TQ1_0,
            (0..54).map(|i| (i * 17 % 256) as u8).collect(),
        ),
    ];
    for (n, d, t, b) in &tensors {
        w.add_tensor(*n, d, *t, b.clone()).expect("tensor");
    }
    w.write_file(&path).expect("write");

    let out = Command::new("python3")
        .arg(repo_path("scripts/gguf_dump.py"))
        .arg(&path)
        .output()
        .expect("python3 must be installed (CI installs it)");
    assert!(
        out.status.success(),
        "gguf_dump.py failed (is PyPI gguf installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let meta = dump["metadata"].as_object().expect("metadata");
    assert_eq!(meta.len(), kvs.len(), "key count");
    for (k, v) in &kvs {
        let got = &meta[*k];
        assert_eq!(
            got["types"][0].as_u64(),
            Some(v.value_type() as u64),
            "{k}: type"
        );
        let value = &got["value"];
        match v {
            V::String(s) => assert_eq!(value.as_str(), Some(s.as_str()), "{k}"),
            V::Bool(b) => assert_eq!(value.as_bool(), Some(*b), "{k}"),
            V::F32(f) => assert_eq!(
                value.as_str().and_then(|s| s.parse::<f32>().ok()),
                Some(*f),
                "{k}"
            ),
            V::F64(f) => assert_eq!(
                value.as_str().and_then(|s| s.parse::<f64>().ok()),
                Some(*f),
                "{k}"
            ),
            V::Array(T::String, items) => {
                let got: Vec<_> = value
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|x| x.as_str().expect("str").to_string())
                    .collect();
                let want: Vec<_> = items
                    .iter()
                    .map(|x| x.as_str().expect("str").to_string())
                    .collect();
                assert_eq!(got, want, "{k}");
            }
            V::Array(T::I32, items) => {
                let got: Vec<_> = value
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|x| x.as_i64().expect("int"))
                    .collect();
                let want: Vec<_> = items
                    .iter()
                    .map(|x| x.as_f64().expect("int") as i64)
                    .collect();
                assert_eq!(got, want, "{k}");
            }
            V::Array(T::Array, items) => {
                let got: Vec<Vec<i64>> = value
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|inner| {
                        inner
                            .as_array()
                            .expect("inner")
                            .iter()
                            .map(|x| x.as_i64().expect("int"))
                            .collect()
                    })
                    .collect();
                let want: Vec<Vec<i64>> = items
                    .iter()
                    .map(|inner| {
                        inner
                            .as_array()
                            .expect("inner")
                            .iter()
                            .map(|x| x.as_f64().expect("int") as i64)
                            .collect()
                    })
                    .collect();
                assert_eq!(got, want, "{k}");
            }
            other => {
                let want = other.as_f64().expect("number");
                assert_eq!(value.as_f64(), Some(want), "{k}");
                if let V::U64(u) = other {
                    assert_eq!(value.as_u64(), Some(*u), "{k}");
                }
                if let V::I64(i) = other {
                    assert_eq!(value.as_i64(), Some(*i), "{k}");
                }
            }
        }
    }
    let got = dump["tensors"].as_array().expect("tensors");
    assert_eq!(got.len(), tensors.len());
    for (g, (n, d, t, b)) in got.iter().zip(&tensors) {
        assert_eq!(g["name"].as_str(), Some(*n));
        assert_eq!(g["type"].as_u64(), Some(u64::from(t.id())), "{n}");
        let shape: Vec<u64> = g["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|x| x.as_u64().expect("dim"))
            .collect();
        assert_eq!(&shape, d, "{n}");
        assert_eq!(g["n_bytes"].as_u64(), Some(b.len() as u64), "{n}");
        assert_eq!(
            g["sha256"].as_str(),
            Some(sha256_hex(b).as_str()),
            "{n}: tensor bytes differ"
        );
    }
}
