#![no_main]
// See tests/fuzz-targets: the property this target guards and its input format.
libfuzzer_sys::fuzz_target!(|data: &[u8]| dcsync_fuzz_targets::import(data));
