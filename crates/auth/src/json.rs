//! JSON exactly as Python's `json` module writes and reads it in Django's `JSONSerializer`.
//!
//! Django writes `json.dumps(obj, separators=(",", ":")).encode("latin-1")` and reads
//! `json.loads(data.decode("latin-1"))`. Because the reader decodes latin-1, a writer that emitted raw UTF-8
//! would give mojibake in Django: everything outside printable ASCII must be a `\uXXXX` escape (lowercase
//! hex, surrogate pairs beyond the BMP), exactly as Python's `ensure_ascii=True` does. Floats use Python's
//! `repr` (`1e+20`, `1e-07`, `1.0`). serde_json can parse this format but writes none of these choices, so
//! the writer is ours and the reader uses serde_json with a visitor that keeps key order.

use std::fmt::Write as _;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::value::Value;

/// Values Python's `json` cannot serialise, or input it cannot parse.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JsonError {
    /// Python raises `TypeError: Object of type X is not JSON serializable`.
    #[error("object of type {0} is not JSON serializable")]
    NotSerializable(&'static str),
    /// Python raises `TypeError: keys must be str, int, float, bool or None`.
    #[error("keys must be str, int, float, bool or None, not {0}")]
    BadKey(&'static str),
    /// Input `json.loads` would reject (Python raises `JSONDecodeError`), with serde_json's message; a
    /// document nested deeper than `MAX_DEPTH` is refused here too.
    #[error("invalid JSON: {0}")]
    Parse(String),
    /// `dumps` was given a value nested deeper than the limit it holds (`MAX_DEPTH`).
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}

/// The deepest nesting we read or write. serde_json's parser stops at 128 levels; the writer keeps to the
/// same bound so that we never write what we could not read back (Python itself allows about 1000).
pub const MAX_DEPTH: usize = 127;

/// The separators Django's signing serializer passes: `(",", ":")`.
pub const COMPACT: (&str, &str) = (",", ":");
/// Python's default separators `(", ", ": ")`, as django-redis's `JSONSerializer` uses them.
pub const SPACED: (&str, &str) = (", ", ": ");

/// `json.dumps(value, separators=separators)` with Python's defaults otherwise (`ensure_ascii=True`,
/// `allow_nan=True`, insertion order).
pub fn dumps(value: &Value, separators: (&str, &str)) -> Result<String, JsonError> {
    let mut out = String::new();
    write_value(&mut out, value, separators, 0)?;
    Ok(out)
}

fn write_value(
    out: &mut String,
    value: &Value,
    seps: (&str, &str),
    depth: usize,
) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::TooDeep(MAX_DEPTH));
    }
    match value {
        Value::None => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&float_repr_json(*f)),
        Value::Str(s) => write_str(out, s),
        Value::List(items) | Value::Tuple(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(seps.0);
                }
                write_value(out, item, seps, depth + 1)?;
            }
            out.push(']');
        }
        Value::Dict(items) => {
            out.push('{');
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(seps.0);
                }
                write_key(out, k)?;
                out.push_str(seps.1);
                write_value(out, v, seps, depth + 1)?;
            }
            out.push('}');
        }
        other => return Err(JsonError::NotSerializable(type_name(other))),
    }
    Ok(())
}

/// Python converts `int`, `float`, `bool` and `None` keys to strings (`{1: 2}` → `{"1":2}`).
fn write_key(out: &mut String, key: &Value) -> Result<(), JsonError> {
    match key {
        Value::Str(s) => write_str(out, s),
        Value::Int(i) => write_str(out, &i.to_string()),
        Value::BigInt(i) => write_str(out, &i.to_string()),
        Value::Float(f) => write_str(out, &float_repr_json(*f)),
        Value::Bool(b) => write_str(out, if *b { "true" } else { "false" }),
        Value::None => write_str(out, "null"),
        other => return Err(JsonError::BadKey(type_name(other))),
    }
    Ok(())
}

/// Python's `py_encode_basestring_ascii`: `"` and `\` and the five short escapes, every other character
/// outside `' '..='~'` as `\u00XX`/`\uXXXX`, and non-BMP characters as a UTF-16 surrogate pair.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `float.__repr__` as `json` writes it: `NaN`, `Infinity`, `-Infinity` for the non-finite values.
fn float_repr_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip (Rust finds the same ones), laid out as
/// CPython's `format_float_short` does: scientific when the decimal exponent is below -4 or above 15
/// (`1e-05`, `1e+16`, at least two exponent digits), otherwise positional with `.0` added to integers.
pub fn float_repr(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "nan".into()
        } else if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Python's decpt: the position of the decimal point relative to the digit string.
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        let (first, rest) = digits.split_at(1);
        let mut s = format!("{sign}{first}");
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(s, "e{exp_sign}{:02}", exp.abs());
        s
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else {
        let decpt = decpt as usize;
        if digits.len() <= decpt {
            format!("{sign}{digits}{}.0", "0".repeat(decpt - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..decpt], &digits[decpt..])
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::None => "NoneType",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigInt(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::ByteArray(_) => "bytearray",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Dict(_) => "dict",
        Value::Set(_) => "set",
        Value::FrozenSet(_) => "frozenset",
        Value::Global { .. } => "type",
        Value::Object(_) => "object",
    }
}

/// `json.loads(data.decode("latin-1"))`: each byte is one character U+0000..U+00FF, as Django reads it.
pub fn loads_latin1(data: &[u8]) -> Result<Value, JsonError> {
    let text: String = data.iter().map(|&b| b as char).collect();
    loads_str(&text)
}

/// `json.loads(text)` into a `Value`, keeping object key order (a repeated key keeps its first position and
/// the last value, as Python's dict does).
pub fn loads_str(text: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| JsonError::Parse(e.to_string()))?;
    de.end().map_err(|e| JsonError::Parse(e.to_string()))?;
    Ok(value)
}

struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from_bigint(u.into()))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(JsonError::TooDeep(MAX_DEPTH)));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(JsonError::TooDeep(MAX_DEPTH)));
        }
        let mut items: Vec<(Value, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed {
                depth: self.depth + 1,
            })?;
            match items
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key.as_str()))
            {
                Some(slot) => slot.1 = value,
                None => items.push((Value::Str(key), value)),
            }
        }
        Ok(Value::Dict(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_is_pythons() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e-7, "1e-07"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (123456.789, "123456.789"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1234567890123456.7, "1234567890123456.8"),
        ] {
            assert_eq!(float_repr(f), s, "{f:?}");
        }
    }

    #[test]
    fn writes_the_wire_format_docs_vector() {
        let v = Value::Dict(vec![
            ("e".into(), "é😀".into()),
            ("s".into(), "a/b<c>&'\"\n\t\u{1f}\u{7f}".into()),
            (
                "f".into(),
                Value::List(vec![
                    Value::Float(1.0),
                    Value::Float(0.1),
                    Value::Float(1e20),
                    Value::Float(1e-7),
                    Value::Float(1e16),
                ]),
            ),
            (
                "i".into(),
                Value::Dict(vec![(Value::Int(1), Value::Int(2))]),
            ),
        ]);
        assert_eq!(
            dumps(&v, COMPACT).unwrap(),
            r#"{"e":"\u00e9\ud83d\ude00","s":"a/b<c>&'\"\n\t\u001f\u007f","f":[1.0,0.1,1e+20,1e-07,1e+16],"i":{"1":2}}"#
        );
    }

    #[test]
    fn reads_keep_order_and_python_dict_semantics() {
        let v = loads_latin1(br#"{"b":1,"a":[true,null,1.5,"\u00e9"],"b":2}"#).unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![
                ("b".into(), Value::Int(2)),
                (
                    "a".into(),
                    Value::List(vec![
                        Value::Bool(true),
                        Value::None,
                        Value::Float(1.5),
                        "é".into()
                    ])
                ),
            ])
        );
        // A raw latin-1 byte is that character, as Django's decode("latin-1") makes it.
        assert_eq!(loads_latin1(b"\"\xe9\"").unwrap(), "é".into());
        assert!(loads_latin1(&[b'['; 100_000]).is_err());
        // serde_json's default float parser is off by one ulp here; `float_roundtrip` is required.
        assert_eq!(
            loads_str("-2.5125778136579605e290").unwrap(),
            Value::Float(-2.5125778136579605e290)
        );
        assert!(dumps(&Value::Bytes(vec![]), COMPACT).is_err());
    }
}
