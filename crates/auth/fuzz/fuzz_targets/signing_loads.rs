#![no_main]
//! Fuzzes `signing::loads`, the session decoders built on it, and the payload and JSON decoders behind the
//! signature. The property lives in `checks/signing_loads.rs`.

use libfuzzer_sys::fuzz_target;

#[path = "../checks/signing_loads.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
