//! `tojson` as HF transformers defines it for chat templates: Python's
//! `json.dumps(x, ensure_ascii=False, indent=…, sort_keys=…)`. minijinja's own filter writes
//! compact JSON with HTML escapes, which would change the prompt tool-calling models see.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use std::fmt::Write;

/// Serializes `value` as Python's `json.dumps` does: `", "` / `": "` separators without an
/// indent, `","` and newlines with one; non-ASCII characters written as they are.
pub fn dumps(value: &Value, indent: Option<usize>, sort_keys: bool) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value, indent, sort_keys, 0)?;
    Ok(out)
}

fn write_value(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    sort_keys: bool,
    depth: usize,
) -> Result<(), Error> {
    if depth > 256 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "tojson: value nested deeper than 256 levels",
        ));
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(out, value),
        ValueKind::String | ValueKind::Plain => write_string(out, &value.to_string()),
        ValueKind::Bytes => write_string(
            out,
            &String::from_utf8_lossy(value.as_bytes().unwrap_or_default()),
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            write_container(out, '[', ']', items.len(), indent, depth, |out, i| {
                write_value(out, &items[i], indent, sort_keys, depth + 1)
            })?;
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if sort_keys {
                keys.sort();
            }
            write_container(out, '{', '}', keys.len(), indent, depth, |out, i| {
                let key = &keys[i];
                match key.as_str() {
                    Some(s) => write_string(out, s),
                    None => write_string(out, &key.to_string()),
                }
                out.push_str(": ");
                write_value(out, &value.get_item(key)?, indent, sort_keys, depth + 1)
            })?;
        }
        ValueKind::Invalid | _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: cannot serialize a value of kind {}", value.kind()),
            ));
        }
    }
    Ok(())
}

fn write_container(
    out: &mut String,
    open: char,
    close: char,
    len: usize,
    indent: Option<usize>,
    depth: usize,
    mut item: impl FnMut(&mut String, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    if len == 0 {
        out.push(close);
        return Ok(());
    }
    for i in 0..len {
        match indent {
            Some(n) => {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', n * (depth + 1)));
            }
            None if i > 0 => out.push_str(", "),
            None => {}
        }
        item(out, i)?;
    }
    if let Some(n) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * depth));
    }
    out.push(close);
    Ok(())
}

fn write_number(out: &mut String, value: &Value) {
    if value.is_integer() {
        out.push_str(&value.to_string());
        return;
    }
    match f64::try_from(value.clone()) {
        Ok(f) if f.is_nan() => out.push_str("NaN"),
        Ok(f) if f.is_infinite() => out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" }),
        // Python's float repr: shortest round trip, always with a '.0' or an exponent.
        Ok(f) if f == f.trunc() && f.abs() < 1e16 => {
            let _ = write!(out, "{f:.1}");
        }
        Ok(f) => {
            let s = format!("{f:?}");
            match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => {
                    let _ = write!(out, "{m}e+{e:0>2}");
                }
                Some((m, e)) => {
                    let _ = write!(out, "{m}e-{:0>2}", &e[1..]);
                }
                None => out.push_str(&s),
            }
        }
        Err(_) => out.push_str(&value.to_string()),
    }
}

/// Appends `s` as a JSON string literal (quotes included), escaped as Python's
/// `json.dumps(..., ensure_ascii=False)` escapes it.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::dumps;
    use minijinja::value::Value;

    fn v(json: &str) -> Value {
        let parsed: serde_json::Value = serde_json::from_str(json).expect("test JSON");
        Value::from(minijinja::value::Serde(&parsed))
    }

    #[test]
    fn matches_python_json_dumps() {
        // Expected strings are what CPython 3.11's json.dumps(..., ensure_ascii=False) prints.
        let x = v(r#"{"a": [1, 2.5, true, null], "b": "é\"\n", "c": {}}"#);
        assert_eq!(
            dumps(&x, None, false).expect("dumps"),
            r#"{"a": [1, 2.5, true, null], "b": "é\"\n", "c": {}}"#.replace("\n\"", "\\n\"")
        );
        assert_eq!(
            dumps(&v(r#"{"k": [1, {"z": 0}]}"#), Some(2), false).expect("dumps"),
            "{\n  \"k\": [\n    1,\n    {\n      \"z\": 0\n    }\n  ]\n}"
        );
        assert_eq!(
            dumps(&v("[1.0, 1e20, 1.5e-7, \"\\u0001\"]"), None, false).expect("dumps"),
            "[1.0, 1e+20, 1.5e-07, \"\\u0001\"]"
        );
        assert_eq!(
            dumps(&v(r#"{"b": 1, "a": 2}"#), None, true).expect("dumps"),
            r#"{"a": 2, "b": 1}"#
        );
        // Insertion order is kept, as in a Python dict.
        assert_eq!(
            dumps(&v(r#"{"b": 1, "a": 2}"#), None, false).expect("dumps"),
            r#"{"b": 1, "a": 2}"#
        );
    }
}
