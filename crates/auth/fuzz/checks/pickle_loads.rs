// The property the `pickle_loads` fuzz target checks, shared with the corpus replay test
// (`crates/auth/tests/fuzz_corpus_pickle.rs`) so `cargo test` runs the same code on stable.
//
// Any input: no panic, bounded work (within the limits). Whatever loads is written by `dumps` at
// protocols 5 and 4, and reads back as the same value (unless a NaN makes equality meaningless). A
// rewrite that writes shared references in full (and memoizes what the input did not) can outgrow the
// limits the input met; it must then be larger than the input, or hold more memo entries.
//
// The fuzz target runs with `fuzz_limits()`, the replay test with those and with `Limits::default()`.

use django_auth_core::Value;
use django_auth_core::pickle::{Limits, PickleError, dumps, loads};
use django_auth_core::value::{Constructor, ObjectOp};

/// The default limits scaled down 50 times, depth kept: the same checks on the same code paths, where a
/// small input that expands up to the limits (a list holding the previous one twice, again and again)
/// costs a fiftieth of the 0.2 to 0.8 s it costs at the defaults' million nodes. With the defaults the
/// fuzzer spent nearly all its time in such inputs: 500 executions a second after 2 million.
pub fn fuzz_limits() -> Limits {
    let default = Limits::default();
    Limits {
        max_input_bytes: default.max_input_bytes / 50,
        max_depth: default.max_depth,
        max_nodes: default.max_nodes / 50,
        max_memo: default.max_memo / 50,
    }
}

/// The property with the fuzz target's limits.
pub fn check(data: &[u8]) {
    check_with(data, &fuzz_limits());
}

/// The property with the given limits.
pub fn check_with(data: &[u8], limits: &Limits) {
    let Ok(value) = loads(data, limits) else {
        return;
    };
    for protocol in [5, 4] {
        let bytes = dumps(&value, protocol).expect("a loaded value pickles");
        let back = match loads(&bytes, limits) {
            // `dumps` memoizes every str, bytes, container and object, as CPython's pickler does; an input
            // that memoized fewer (thousands of `EMPTY_LIST`s and no `MEMOIZE`) meets `max_memo` where its
            // rewrite, even a smaller one, does not. Without that limit the rest must hold.
            Err(PickleError::MemoTooLarge { .. }) => loads(
                &bytes,
                &Limits {
                    max_memo: usize::MAX,
                    ..limits.clone()
                },
            ),
            other => other,
        };
        match back {
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
