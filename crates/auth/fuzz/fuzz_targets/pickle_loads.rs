#![no_main]
//! Fuzzes `pickle::loads` (the cache session engine's decoder) and the `dumps` round trip of whatever it
//! accepts. The property lives in `checks/pickle_loads.rs`.

use libfuzzer_sys::fuzz_target;

#[path = "../checks/pickle_loads.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
