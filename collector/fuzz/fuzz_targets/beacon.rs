//! Fuzzes beacon validation: any byte string is accepted or refused with a field path, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = rumprops_collector::beacon::parse_beacon(data) {
        assert!(!e.path.is_empty() && !e.message.is_empty());
    }
});
