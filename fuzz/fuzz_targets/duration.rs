//! Go-style durations (`parse_duration`, `format_duration`): parse(format(d)) == d for whole
//! seconds; `format_duration` writes sub-second durations as whole milliseconds, and reading
//! those back may be off by the float arithmetic `parse_duration` does (1 µs, plus a few f64
//! ulps of the whole duration).
//! Inputs of 12 bytes or more also give a duration directly (seconds, nanoseconds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shard_provider::framework::duration::{format_duration, parse_duration};
use std::time::Duration;

fn round_trip(d: Duration) {
    let text = format_duration(d);
    let back = parse_duration(&text).unwrap_or_else(|e| panic!("format_duration({d:?}) = {text:?}: {e}"));
    if d.subsec_nanos() == 0 {
        assert_eq!(back, d, "parse(format({d:?})) via {text:?}");
    } else {
        let millis = Duration::from_millis(u64::try_from(d.as_millis()).expect("bounded"));
        let tolerance = Duration::from_micros(1) + Duration::from_secs_f64(d.as_secs_f64() * 4e-16);
        assert!(back.abs_diff(millis) <= tolerance, "parse(format({d:?})) via {text:?} = {back:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 12 {
        let secs = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) % 1_000_000_000_000;
        let nanos = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) % 1_000_000_000;
        round_trip(Duration::new(secs, nanos));
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(d) = parse_duration(text) else { return };
    assert!(d.as_secs_f64() <= 1e12, "{text:?} gave {d:?}");
    assert!(!text.trim().starts_with('-'), "negative {text:?} accepted");
    round_trip(d);
});
