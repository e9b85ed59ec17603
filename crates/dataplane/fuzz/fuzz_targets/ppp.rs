#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| l2tp_ipsec_dataplane_fuzz::ppp(data));
