// The property the `pickle_loads` fuzz target checks, shared with the corpus replay test
// (`crates/auth/tests/fuzz_corpus_pickle.rs`) so `cargo test` runs the same code on stable.
//
// Any input: no panic, bounded work (the default `Limits`). Whatever loads is written by `dumps` at
// protocols 5 and 4, and reads back as the same value (unless a NaN makes equality meaningless). A
// rewrite that writes shared references in full (and memoizes what the input did not) can outgrow the
// limits the input met; it must then be larger than the input.

use auth::Value;
use auth::pickle::{Limits, dumps, loads};
use auth::value::{Constructor, ObjectOp};

pub fn check(data: &[u8]) {
    let limits = Limits::default();
    let Ok(value) = loads(data, &limits) else {
        return;
    };
    for protocol in [5, 4] {
        let bytes = dumps(&value, protocol).expect("a loaded value pickles");
        match loads(&bytes, &limits) {
            Ok(back) => {
                if !has_nan(&value) {
                    assert_eq!(
                        back, value,
                        "protocol {protocol} round trip changed the value"
                    );
                }
            }
            Err(e) => assert!(
                bytes.len() > data.len(),
                "the protocol {protocol} rewrite ({} bytes) does not load: {e:?}",
                bytes.len()
            ),
        }
    }
}

/// Whether a NaN float is anywhere in the value (NaN != NaN, so equality cannot be asserted).
pub fn has_nan(value: &Value) -> bool {
    match value {
        Value::Float(f) => f.is_nan(),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
            items.iter().any(has_nan)
        }
        Value::Dict(pairs) => pairs.iter().any(|(k, v)| has_nan(k) || has_nan(v)),
        Value::Object(object) => {
            let constructor = match &object.constructor {
                Constructor::Reduce { callable, args } => has_nan(callable) || has_nan(args),
                Constructor::NewObj { cls, args } => has_nan(cls) || has_nan(args),
                Constructor::NewObjEx { cls, args, kwargs } => {
                    has_nan(cls) || has_nan(args) || has_nan(kwargs)
                }
            };
            constructor
                || object.ops.iter().any(|op| match op {
                    ObjectOp::Append(v) | ObjectOp::Build(v) => has_nan(v),
                    ObjectOp::SetItem(k, v) => has_nan(k) || has_nan(v),
                })
        }
        _ => false,
    }
}
