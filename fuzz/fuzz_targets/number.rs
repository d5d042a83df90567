//! The number reader (`Number::parse`, cty's decimal text): a parsed number reads back from its
//! display (a `Float` as the same f64), its wire form is the same value (an integer that fits goes as an integer, never as
//! text), a `Float` is exactly what Rust's float parser reads, and msgpack carries it unchanged.
//! An input of exactly 8 bytes is also read as the bits of an f64 (`Number::from_f64`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shard_provider::protocol::msgpack;
use shard_provider::protocol::value::{Number, Type, Value, WireNumber};

fn check(n: &Number) {
    match n.to_wire() {
        WireNumber::Int(i) => assert_eq!(Number::Int(i), *n, "wire int"),
        WireNumber::UInt(u) => {
            assert!(i64::try_from(u).is_err(), "{u} fits i64 but goes as u64");
            assert_eq!(Number::Decimal(u.to_string()), *n, "wire uint");
        }
        WireNumber::Float(f) => assert_eq!(Number::Float(f), *n, "wire float"),
        WireNumber::Text(s) => {
            assert_eq!(Number::parse(&s).as_ref(), Some(n), "wire text {s:?}");
            let f = n.as_f64();
            if f.is_finite() && f == f.trunc() && f.abs() < 9.0e15 {
                assert_ne!(Number::Int(f as i64), *n, "the integer {n} goes as text {s:?}");
            }
        }
    }
    let value = Value::Number(n.clone());
    let bytes = msgpack::encode(&Type::Number, &value);
    let back = msgpack::decode(&Type::Number, &bytes).unwrap_or_else(|e| panic!("{n:?}: {e}"));
    assert_eq!(back, value, "msgpack round trip");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bits) = <[u8; 8]>::try_from(data) {
        let f = f64::from_le_bytes(bits);
        let n = Number::from_f64(f);
        if f.is_finite() {
            assert_eq!(n.as_f64(), f, "from_f64({f:?})");
        }
        check(&n);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(n) = Number::parse(text) else { return };
    // Display writes a Float as Rust's shortest round-trip text, which reads back as the same
    // f64 but need not be its exact decimal value (1123456789456780.75 shows as ...780.8).
    let shown = Number::parse(&n.to_string()).unwrap_or_else(|| panic!("display of {text:?} does not parse"));
    match n {
        Number::Float(f) => assert_eq!(shown.as_f64(), f, "parse(display) of {text:?}"),
        _ => assert_eq!(shown, n, "parse(display) of {text:?}"),
    }
    if let Number::Float(f) = n {
        assert_eq!(text.parse::<f64>().ok(), Some(f), "{text:?} as a Float");
    }
    check(&n);
});
