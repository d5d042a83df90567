//! The msgpack and JSON value codecs: property round-trips over random schema types, and the
//! exact wire forms Terraform sends (refined unknowns, big numbers, dynamic values).

use proptest::prelude::*;
use shard_provider::protocol::value::{Number, Type, Value};
use shard_provider::protocol::{json, msgpack};
use std::collections::BTreeMap;

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String), Just(Type::Dynamic)];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

/// Types without `dynamic` inside: what a dynamic value's concrete type can be in cty.
fn arb_concrete_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String)];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..3).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Number::from_f64),
        "[1-9][0-9]{25,40}".prop_map(Number::Decimal),
        "[1-9][0-9]{0,3}\\.[0-9]{25,30}1".prop_map(Number::Decimal),
    ]
}

/// A value of type `ty`, with nulls and unknowns anywhere.
fn arb_value(ty: Type) -> BoxedStrategy<Value> {
    let concrete: BoxedStrategy<Value> = match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::String => ".{0,12}".prop_map(Value::String).boxed(),
        Type::Dynamic => {
            prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String), Just(Type::list(Type::String))]
                .prop_flat_map(arb_value)
                .boxed()
        }
        Type::List(t) => prop::collection::vec(arb_value(*t), 0..4).prop_map(Value::List).boxed(),
        Type::Set(t) => prop::collection::vec(arb_value(*t), 0..4).prop_map(Value::Set).boxed(),
        Type::Map(t) => prop::collection::btree_map("[a-z]{0,5}", arb_value(*t), 0..4).prop_map(Value::Map).boxed(),
        Type::Object(attrs) => {
            let parts: Vec<_> =
                attrs.into_iter().map(|(k, t)| arb_value(t).prop_map(move |v| (k.clone(), v))).collect();
            parts.prop_map(|kv| Value::Object(kv.into_iter().collect::<BTreeMap<_, _>>())).boxed()
        }
        Type::Tuple(ts) => ts.into_iter().map(arb_value).collect::<Vec<_>>().prop_map(Value::Tuple).boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => concrete].boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips_any_value_of_any_type((ty, value) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t)))) {
        let bytes = msgpack::encode(&ty, &value);
        let back = msgpack::decode(&ty, &bytes).expect("decode what we encoded");
        prop_assert_eq!(back, value);
    }

    /// A dynamic value as Terraform writes it, `[type, value]`, of any type: decoding and
    /// encoding again gives the same bytes (typed nulls, empty collections and all).
    #[test]
    fn dynamic_values_round_trip_byte_for_byte((ty, value) in arb_concrete_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t)))) {
        let mut wire = Vec::new();
        rmp::encode::write_array_len(&mut wire, 2).unwrap();
        rmp::encode::write_bin(&mut wire, ty.to_json().to_string().as_bytes()).unwrap();
        wire.extend(msgpack::encode(&ty, &value));
        let (back, types) = msgpack::decode_typed(&Type::Dynamic, &wire).unwrap();
        prop_assert_eq!(&back, &value);
        prop_assert_eq!(msgpack::encode_typed(&Type::Dynamic, &back, &types), wire);
    }

    #[test]
    fn type_json_round_trips(ty in arb_type()) {
        prop_assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }
}

#[test]
fn refined_and_other_extension_unknowns_read_as_unknown() {
    // ext 12 with a map payload {1: true (not null), 2: "arn:" (string prefix)}.
    let mut payload = Vec::new();
    rmp::encode::write_map_len(&mut payload, 2).unwrap();
    rmp::encode::write_uint(&mut payload, 1).unwrap();
    rmp::encode::write_bool(&mut payload, true).unwrap();
    rmp::encode::write_uint(&mut payload, 2).unwrap();
    rmp::encode::write_str(&mut payload, "arn:").unwrap();
    let mut refined = Vec::new();
    rmp::encode::write_ext_meta(&mut refined, payload.len() as u32, 12).unwrap();
    refined.extend_from_slice(&payload);
    assert_eq!(msgpack::decode(&Type::String, &refined).unwrap(), Value::Unknown);

    for code in [0i8, 5, 42] {
        let mut other = Vec::new();
        rmp::encode::write_ext_meta(&mut other, 1, code).unwrap();
        other.push(0);
        assert_eq!(msgpack::decode(&Type::Number, &other).unwrap(), Value::Unknown);
    }
    // Unknown nested in an object.
    let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
    let mut obj = Vec::new();
    rmp::encode::write_map_len(&mut obj, 2).unwrap();
    rmp::encode::write_str(&mut obj, "a").unwrap();
    obj.extend_from_slice(&refined);
    rmp::encode::write_str(&mut obj, "b").unwrap();
    rmp::encode::write_sint(&mut obj, 3).unwrap();
    let v = msgpack::decode(&ty, &obj).unwrap();
    assert_eq!(v.get("a"), &Value::Unknown);
    assert_eq!(v.get("b"), &Value::int(3));
}

#[test]
fn numbers_arrive_as_int_float_or_decimal_text() {
    let mut big = Vec::new();
    rmp::encode::write_u64(&mut big, u64::MAX).unwrap();
    assert_eq!(msgpack::decode(&Type::Number, &big).unwrap(), Value::Number(Number::Decimal(u64::MAX.to_string())));

    let text = "123456789012345678901234567890.000000000000000000001";
    let mut s = Vec::new();
    rmp::encode::write_str(&mut s, text).unwrap();
    let v = msgpack::decode(&Type::Number, &s).unwrap();
    assert_eq!(v, Value::Number(Number::Decimal(text.into())));
    assert_eq!(msgpack::encode(&Type::Number, &v), s, "decimal text must go back out unchanged");

    let mut f = Vec::new();
    rmp::encode::write_f64(&mut f, 42.0).unwrap();
    assert_eq!(msgpack::decode(&Type::Number, &f).unwrap(), Value::int(42), "integral floats are integers");

    let mut bad = Vec::new();
    rmp::encode::write_str(&mut bad, "NaN").unwrap();
    assert!(msgpack::decode(&Type::Number, &bad).is_err());
}

#[test]
fn objects_always_carry_every_attribute() {
    let ty = Type::object([("a", Type::String), ("b", Type::list(Type::object([("c", Type::Bool)])))]);
    let v = Value::Object(BTreeMap::from([("b".to_string(), Value::List(vec![Value::Object(BTreeMap::new())]))]));
    let bytes = msgpack::encode(&ty, &v);
    let mut rd = bytes.as_slice();
    let raw = rmpv::decode::read_value(&mut rd).unwrap();
    let rmpv::Value::Map(entries) = raw else { panic!("not a map") };
    assert_eq!(entries.len(), 2, "missing attribute `a` must be written as nil");
    let back = msgpack::decode(&ty, &bytes).unwrap();
    assert_eq!(back.get("a"), &Value::Null);
    assert_eq!(back.get("b").elements()[0].get("c"), &Value::Null);
}

#[test]
fn dynamic_values_carry_their_type() {
    let v = Value::List(vec![Value::str("x")]);
    let bytes = msgpack::encode(&Type::Dynamic, &v);
    let mut rd = bytes.as_slice();
    let rmpv::Value::Array(parts) = rmpv::decode::read_value(&mut rd).unwrap() else { panic!() };
    assert_eq!(parts.len(), 2);
    let rmpv::Value::Binary(ty) = &parts[0] else { panic!("type must be JSON bytes") };
    assert_eq!(std::str::from_utf8(ty).unwrap(), r#"["list","string"]"#);
    assert_eq!(msgpack::decode(&Type::Dynamic, &bytes).unwrap(), v);
}

#[test]
fn stored_json_state_ignores_removed_attributes() {
    let ty = Type::object([("weight", Type::Number), ("id", Type::String), ("new", Type::Bool)]);
    let v = json::decode(&ty, br#"{"weight": 50, "id": "x", "removed_long_ago": true}"#).unwrap();
    assert_eq!(v.get("weight"), &Value::int(50));
    assert_eq!(v.get("new"), &Value::Null);
    assert!(matches!(v, Value::Object(ref m) if m.len() == 3));
}

/// Reads one msgpack value and checks nothing is left over (a header that disagrees with what
/// follows leaves bytes over or runs short).
fn read_whole(bytes: &[u8]) -> rmpv::Value {
    let mut rd = bytes;
    let v = rmpv::decode::read_value(&mut rd).expect("well-formed msgpack");
    assert!(rd.is_empty(), "{} bytes left over after one value", rd.len());
    v
}

/// A dynamic value as cty writes it: [type JSON bytes, value encoded as that type].
fn cty_dynamic(ty_json: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 2).unwrap();
    rmp::encode::write_bin(&mut out, ty_json.as_bytes()).unwrap();
    out.extend_from_slice(value);
    out
}

fn nil() -> Vec<u8> {
    vec![0xc0]
}

#[test]
fn dynamic_values_keep_the_type_they_arrived_with() {
    let string_ty = Type::String;
    let cases: Vec<(&str, Type, Vec<u8>)> = vec![
        // An empty list of strings: the value alone would say list(dynamic).
        (
            r#"["list","string"]"#,
            Type::list(Type::String),
            msgpack::encode(&Type::list(Type::String), &Value::List(vec![])),
        ),
        // A null of a known type: cty writes it with its type, not as a bare nil.
        (r#""string""#, string_ty.clone(), nil()),
        (r#"["map","number"]"#, Type::map(Type::Number), nil()),
        // An unknown of a known type.
        (r#""number""#, Type::Number, vec![0xd4, 0, 0]),
        // An object whose attributes are null or empty: their types show nowhere in the value.
        (
            r#"["object",{"a":"string","b":["list","number"],"c":["set",["object",{"d":"bool"}]]}]"#,
            Type::object([
                ("a", Type::String),
                ("b", Type::list(Type::Number)),
                ("c", Type::set(Type::object([("d", Type::Bool)]))),
            ]),
            msgpack::encode(
                &Type::object([
                    ("a", Type::String),
                    ("b", Type::list(Type::Number)),
                    ("c", Type::set(Type::object([("d", Type::Bool)]))),
                ]),
                &Value::Object(BTreeMap::from([
                    ("a".to_string(), Value::Null),
                    ("b".to_string(), Value::List(vec![])),
                    ("c".to_string(), Value::Set(vec![Value::Object(BTreeMap::from([("d".into(), Value::Null)]))])),
                ])),
            ),
        ),
    ];
    for (ty_json, concrete, value_bytes) in cases {
        assert_eq!(Type::from_json(&serde_json::from_str(ty_json).unwrap()).unwrap(), concrete);
        let wire = cty_dynamic(ty_json, &value_bytes);
        let (value, types) = msgpack::decode_typed(&Type::Dynamic, &wire).unwrap();
        assert_eq!(types.get(""), Some(&concrete), "{ty_json}: type recorded");
        assert_eq!(
            msgpack::encode_typed(&Type::Dynamic, &value, &types),
            wire,
            "{ty_json}: decode → encode must be lossless"
        );
    }
}

#[test]
fn dynamic_attributes_inside_objects_and_collections_keep_their_types() {
    // object({ settings = dynamic, extra = list(dynamic) }) as Terraform would send it.
    let schema = Type::object([("settings", Type::Dynamic), ("extra", Type::list(Type::Dynamic))]);
    let mut wire = Vec::new();
    rmp::encode::write_map_len(&mut wire, 2).unwrap();
    rmp::encode::write_str(&mut wire, "extra").unwrap();
    rmp::encode::write_array_len(&mut wire, 2).unwrap();
    wire.extend(cty_dynamic(r#""string""#, &{
        let mut b = Vec::new();
        rmp::encode::write_str(&mut b, "x").unwrap();
        b
    }));
    wire.extend(cty_dynamic(r#""string""#, &nil()));
    rmp::encode::write_str(&mut wire, "settings").unwrap();
    wire.extend(cty_dynamic(r#"["map",["list","string"]]"#, &{
        let mut b = Vec::new();
        rmp::encode::write_map_len(&mut b, 1).unwrap();
        rmp::encode::write_str(&mut b, "k").unwrap();
        rmp::encode::write_array_len(&mut b, 0).unwrap();
        b
    }));
    let (value, types) = msgpack::decode_typed(&schema, &wire).unwrap();
    assert_eq!(msgpack::encode_typed(&schema, &value, &types), wire);

    // A value built anew (say by Read) for the same positions keeps the recorded types...
    let rebuilt = Value::Object(BTreeMap::from([
        ("settings".into(), Value::Map(BTreeMap::from([("k".into(), Value::List(vec![]))]))),
        ("extra".into(), Value::List(vec![Value::str("x"), Value::Null])),
    ]));
    assert_eq!(msgpack::encode_typed(&schema, &rebuilt, &types), wire);
    // ...and one that no longer fits them is written as what it is.
    let changed = Value::Object(BTreeMap::from([("settings".into(), Value::int(3)), ("extra".into(), Value::Null)]));
    let bytes = msgpack::encode_typed(&schema, &changed, &types);
    assert_eq!(msgpack::decode(&schema, &bytes).unwrap(), changed);
    let (_, again) = msgpack::decode_typed(&schema, &bytes).unwrap();
    assert_eq!(again.get(r#"."settings""#), Some(&Type::Number));

    // A computed dynamic attribute planned unknown can drop its recorded type.
    let mut planned_types = types.clone();
    planned_types.remove(r#"."settings""#);
    assert_eq!(planned_types.get(r#"."settings""#), None);
    assert_eq!(planned_types.get(r#"."extra"[*]"#), Some(&Type::String));
    let planned = Value::Object(BTreeMap::from([("settings".into(), Value::Unknown), ("extra".into(), Value::Null)]));
    let bytes = msgpack::encode_typed(&schema, &planned, &planned_types);
    let rmpv::Value::Map(entries) = read_whole(&bytes) else { panic!("not a map") };
    assert!(matches!(entries[1].1, rmpv::Value::Ext(0, _)), "an unknown of no known type is bare");
}

#[test]
fn dynamic_collections_without_recorded_types_share_one_element_type() {
    // No recorded types (a value the provider made up): the elements lend their type to the
    // nulls among them, and to nulls nested in their objects, as cty requires of a list.
    let v = Value::List(vec![
        Value::Object(BTreeMap::from([("a".into(), Value::Null)])),
        Value::Object(BTreeMap::from([("a".into(), Value::str("x"))])),
        Value::Null,
    ]);
    let bytes = msgpack::encode(&Type::Dynamic, &v);
    let rmpv::Value::Array(parts) = read_whole(&bytes) else { panic!("not [type, value]") };
    let rmpv::Value::Binary(ty) = &parts[0] else { panic!("type must be JSON bytes") };
    assert_eq!(std::str::from_utf8(ty).unwrap(), r#"["list",["object",{"a":"string"}]]"#);
    assert_eq!(msgpack::decode(&Type::Dynamic, &bytes).unwrap(), v);

    let v = Value::List(vec![Value::str("a"), Value::Null]);
    let bytes = msgpack::encode(&Type::list(Type::Dynamic), &v);
    let (back, types) = msgpack::decode_typed(&Type::list(Type::Dynamic), &bytes).unwrap();
    assert_eq!(back, v);
    assert_eq!(types.get("[*]"), Some(&Type::String), "the null element is a null string");
}

#[test]
fn tuple_headers_always_match_the_elements_written() {
    let ty = Type::object([("t", Type::Tuple(vec![Type::String])), ("z", Type::Bool)]);
    for items in [vec![], vec![Value::str("a"), Value::str("b"), Value::int(3)]] {
        let v =
            Value::Object(BTreeMap::from([("t".into(), Value::Tuple(items.clone())), ("z".into(), Value::Bool(true))]));
        let bytes = msgpack::encode(&ty, &v);
        let rmpv::Value::Map(entries) = read_whole(&bytes) else { panic!("not a map") };
        let rmpv::Value::Array(written) = &entries[0].1 else { panic!("tuple not an array") };
        assert_eq!(written.len(), items.len(), "header and elements agree");
        assert_eq!(entries[1], (rmpv::Value::from("z"), rmpv::Value::Boolean(true)), "the next attribute is intact");
        // Terraform refuses the wrong length with a clear message; so does the strict encoder.
        assert!(msgpack::decode(&ty, &bytes).is_err());
        let err = msgpack::try_encode(&ty, &v, &Default::default()).unwrap_err();
        assert_eq!(err.path, ".t");
    }
    let ok =
        Value::Object(BTreeMap::from([("t".into(), Value::Tuple(vec![Value::str("a")])), ("z".into(), Value::Null)]));
    let bytes = msgpack::try_encode(&ty, &ok, &Default::default()).unwrap();
    assert_eq!(msgpack::decode(&ty, &bytes).unwrap(), ok);
}

#[test]
fn mismatched_values_are_well_formed_and_refused_by_the_strict_encoder() {
    let ty = Type::object([("n", Type::Number), ("s", Type::String)]);
    let v = Value::Object(BTreeMap::from([("n".into(), Value::str("x")), ("s".into(), Value::str("y"))]));
    read_whole(&msgpack::encode(&ty, &v));
    assert_eq!(msgpack::try_encode(&ty, &v, &Default::default()).unwrap_err().path, ".n");
    let extra = Value::Object(BTreeMap::from([("n".into(), Value::int(1)), ("gone".into(), Value::int(1))]));
    assert_eq!(msgpack::try_encode(&ty, &extra, &Default::default()).unwrap_err().path, ".gone");
}

/// The number cty would read from msgpack bytes, as exact text.
fn wire_number(bytes: &[u8]) -> rmpv::Value {
    read_whole(bytes)
}

#[test]
fn stored_state_numbers_reach_terraform_exactly() {
    let ty = Type::object([("a", Type::Number), ("b", Type::Number), ("c", Type::Number), ("d", Type::Number)]);
    let raw = br#"{"a": 9007199254740993, "b": 12345678901234567890, "c": 0.1, "d": 123456789012345678901234567890.5}"#;
    let decoded = [json::decode(&ty, raw).unwrap(), json::from_json(&ty, json::parse(raw).unwrap(), "").unwrap()];
    for v in decoded {
        let field = |name: &str| wire_number(&msgpack::encode(&Type::Number, v.get(name)));
        assert_eq!(field("a"), rmpv::Value::from(9007199254740993i64));
        assert_eq!(field("b"), rmpv::Value::from(12345678901234567890u64), "fits u64: an integer, not a float or text");
        assert_eq!(field("c"), rmpv::Value::from("0.1"), "0.1 is no f64: cty sends and expects its text");
        assert_eq!(field("d"), rmpv::Value::from("123456789012345678901234567890.5"));
        // And back from the wire to the same value.
        let bytes = msgpack::encode(&ty, &v);
        assert_eq!(msgpack::decode(&ty, &bytes).unwrap(), v);
        assert_eq!(msgpack::encode(&ty, &msgpack::decode(&ty, &bytes).unwrap()), bytes);
    }
    // Terraform sends 0.1 as text; it must go back as text, not as the f64 nearest to it.
    let mut s = Vec::new();
    rmp::encode::write_str(&mut s, "0.1").unwrap();
    assert_eq!(msgpack::encode(&Type::Number, &msgpack::decode(&Type::Number, &s).unwrap()), s);
    // Exactly representable fractions are floats, integral values integers, as cty writes them.
    assert_eq!(
        wire_number(&msgpack::encode(&Type::Number, &Value::Number(Number::Decimal("0.5".into())))),
        rmpv::Value::F64(0.5)
    );
    assert_eq!(
        wire_number(&msgpack::encode(&Type::Number, &Value::Number(Number::Decimal("1.5e1".into())))),
        rmpv::Value::from(15)
    );
    assert_eq!(
        wire_number(&msgpack::encode(&Type::Number, &Value::Number(Number::Float(1e30)))),
        rmpv::Value::from("1000000000000000019884624838656")
    );
    // Even JSON already parsed by serde_json (numbers as f64) recovers the written decimal.
    let lossy: serde_json::Value = serde_json::from_slice(raw).unwrap();
    let v = json::from_json(&ty, lossy, "").unwrap();
    assert_eq!(wire_number(&msgpack::encode(&Type::Number, v.get("c"))), rmpv::Value::from("0.1"));
}

#[test]
fn numbers_compare_by_exact_value() {
    assert_eq!(Number::Int(15), Number::Decimal("1.5e1".into()));
    assert_eq!(Number::Float(0.5), Number::Decimal("0.50".into()));
    assert_ne!(Number::Float(0.1), Number::Decimal("0.1".into()), "the f64 nearest 0.1 is not 0.1");
    assert_ne!(Number::Int(9007199254740993), Number::Float(9007199254740992.0));
    assert_eq!(Number::parse("0.1"), Some(Number::Decimal("0.1".into())));
    assert!(matches!(Number::parse("0.25"), Some(Number::Float(f)) if f == 0.25));
    assert!(matches!(Number::parse("1e3"), Some(Number::Int(1000))));
    for bad in ["", "NaN", "inf", "1e", "--1", ".", "0x10", " 1"] {
        assert_eq!(Number::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn stored_state_is_read_as_leniently_as_cty_reads_it() {
    let ty = Type::object([("s", Type::String), ("n", Type::Number), ("b", Type::Bool)]);
    let read = |raw: &str| json::decode(&ty, raw.as_bytes());
    // A number or a bool where a string is expected: its literal text.
    let v = read(r#"{"s": 42, "n": "7", "b": "true"}"#).unwrap();
    assert_eq!((v.get("s"), v.get("n"), v.get("b")), (&Value::str("42"), &Value::int(7), &Value::Bool(true)));
    assert_eq!(read(r#"{"s": 1.50}"#).unwrap().get("s"), &Value::str("1.50"), "the text as written");
    assert_eq!(read(r#"{"s": true}"#).unwrap().get("s"), &Value::str("true"));
    assert_eq!(read(r#"{"b": "0"}"#).unwrap().get("b"), &Value::Bool(false));
    assert_eq!(read(r#"{"b": "1"}"#).unwrap().get("b"), &Value::Bool(true));
    assert_eq!(read(r#"{"n": "0.1"}"#).unwrap().get("n"), &Value::Number(Number::Decimal("0.1".into())));
    // What cty refuses, we refuse.
    for bad in
        [r#"{"n": "many"}"#, r#"{"b": "yes"}"#, r#"{"b": "True"}"#, r#"{"b": 1}"#, r#"{"n": true}"#, r#"{"s": [1]}"#]
    {
        assert!(read(bad).is_err(), "{bad} accepted");
    }
    // Dynamic values in state carry their type, which is recorded.
    let dty = Type::object([("d", Type::Dynamic)]);
    let (v, types) = json::decode_typed(&dty, br#"{"d": {"value": null, "type": ["list","string"]}}"#).unwrap();
    assert_eq!(v.get("d"), &Value::Null);
    let bytes = msgpack::encode_typed(&dty, &v, &types);
    assert_eq!(msgpack::decode_typed(&dty, &bytes).unwrap().1, types);
    // Escapes and nesting survive the exact-number reader.
    let v = json::parse(br#"{"a": ["x\"y\u00e9", {"b": [1, 2.5, -0.1, 1e400]}], "c": null}"#).unwrap();
    assert_eq!(v, serde_json::json!({"a": ["x\"y\u{e9}", {"b": [1, 2.5, "-0.1", "1e400"]}], "c": null}));
    assert!(json::parse(b"{\"a\": 1,}").is_err());
}

#[test]
fn sets_are_equal_in_any_order() {
    use shard_provider::framework::plan;
    use shard_provider::framework::{AttrPath, Attribute, Schema};
    let a = Value::Set(vec![Value::str("x"), Value::str("y"), Value::str("z")]);
    let b = Value::Set(vec![Value::str("z"), Value::str("x"), Value::str("y")]);
    assert_eq!(a, b);
    assert_ne!(a, Value::Set(vec![Value::str("x"), Value::str("y")]));
    assert_ne!(
        Value::List(vec![Value::str("x"), Value::str("y")]),
        Value::List(vec![Value::str("y"), Value::str("x")])
    );
    // Nested: sets of objects holding sets.
    let obj = |tags: Vec<&str>, n: i64| {
        Value::Object(BTreeMap::from([
            ("tags".into(), Value::Set(tags.into_iter().map(Value::str).collect())),
            ("n".into(), Value::int(n)),
        ]))
    };
    assert_eq!(
        Value::Set(vec![obj(vec!["a", "b"], 1), obj(vec![], 2)]),
        Value::Set(vec![obj(vec![], 2), obj(vec!["b", "a"], 1)])
    );

    // The apply-time check: a set read back in another order is the planned set.
    let planned = Value::Object(BTreeMap::from([("tags".into(), a.clone()), ("id".into(), Value::Unknown)]));
    let applied = Value::Object(BTreeMap::from([("tags".into(), b.clone()), ("id".into(), Value::str("i"))]));
    let mut out = Vec::new();
    plan::inconsistencies(&planned, &applied, &AttrPath::root(), &mut out);
    assert!(out.is_empty(), "reordered set reported as inconsistent: {out:?}");

    // And planning: the same set in another order is no change (computed values stay known).
    let schema = Schema::new(
        "t",
        vec![
            Attribute::new("tags", Type::set(Type::String)).required().requires_replace(),
            Attribute::string("id").computed(),
        ],
    );
    let prior = Value::Object(BTreeMap::from([("tags".into(), a), ("id".into(), Value::str("i"))]));
    let proposed = Value::Object(BTreeMap::from([("tags".into(), b.clone()), ("id".into(), Value::str("i"))]));
    let config = Value::Object(BTreeMap::from([("tags".into(), b), ("id".into(), Value::Null)]));
    let p = plan::plan(&schema.block, &prior, proposed, &config);
    assert_eq!(p.state.get("id"), &Value::str("i"), "no change must keep computed values");
    assert!(p.requires_replace.is_empty(), "a reordered set is no replacement");
}

// Fuzzing the decoders: whatever bytes arrive (a corrupt plan file, a future Terraform's
// encoding), decoding returns a value or an error; it never panics or loops.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn msgpack_decode_of_arbitrary_bytes_never_panics(ty in arb_type(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = msgpack::decode(&ty, &bytes);
        let _ = msgpack::decode_typed(&Type::Dynamic, &bytes);
    }

    /// Valid encodings with one byte changed or cut short: the cases a random byte string rarely
    /// reaches (deep inside a well-formed value).
    #[test]
    fn msgpack_decode_of_corrupted_values_never_panics(
        (ty, value) in arb_type().prop_flat_map(|t| (Just(t.clone()), arb_value(t))),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut bytes = msgpack::encode(&ty, &value);
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            if cut { bytes.truncate(i) } else { bytes[i] = byte }
        }
        if let Ok(back) = msgpack::decode(&ty, &bytes) {
            // Whatever decodes must encode again without panicking.
            let _ = msgpack::encode(&ty, &back);
        }
    }

    /// Stored state is JSON: any JSON document against any type decodes or is refused.
    #[test]
    fn json_decode_of_arbitrary_documents_never_panics(ty in arb_type(), doc in arb_json()) {
        let text = doc.to_string();
        let _ = json::decode(&ty, text.as_bytes());
        let _ = json::decode_typed(&Type::Dynamic, text.as_bytes());
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        prop_oneof![Just("string".to_string()), Just("number".to_string()), Just("list".to_string()), ".{0,6}"]
            .prop_map(J::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            proptest::collection::btree_map("[a-c]{1,2}", inner, 0..6).prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn a_reserved_marker_or_trailing_bytes_are_refused_not_read_as_null() {
    // rmpv alone reads 0xc1 as nil: a corrupt proposed state would look like "destroy".
    assert!(msgpack::decode(&Type::String, &[0xc1]).is_err());
    let ty = Type::object([("a", Type::String)]);
    let mut nested = Vec::new();
    rmp::encode::write_map_len(&mut nested, 1).unwrap();
    rmp::encode::write_str(&mut nested, "a").unwrap();
    nested.push(0xc1);
    assert!(msgpack::decode(&ty, &nested).is_err(), "nested reserved marker");
    let mut trailing = msgpack::encode(&Type::String, &Value::str("x"));
    trailing.push(0xc0);
    let err = msgpack::decode(&Type::String, &trailing).unwrap_err().to_string();
    assert!(err.contains("1 bytes after the value"), "{err}");
    // A length far beyond the message is refused before anything is walked.
    assert!(msgpack::decode(&Type::list(Type::String), &[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
}

/// Hostile numbers (issue 16, item 12): huge exponents, long digit strings, NaN and infinities
/// anywhere a number is read (msgpack int/float/text, stored JSON, typed models) give a value or
/// an error, never a panic.
#[test]
fn hostile_numbers_never_panic() {
    use shard_provider::framework::typed::from_value;
    let long_digits = "9".repeat(100_000);
    let long_fraction = format!("0.{}1", "0".repeat(100_000));
    let texts = [
        "1e9223372036854775807",
        "-1e9223372036854775807",
        "1e-9223372036854775808",
        "1e9223372036854775808",
        "1.5e9223372036854775807",
        "0.000001e9223372036854775807",
        "10e9223372036854775807",
        "1e99999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        long_digits.as_str(),
        long_fraction.as_str(),
        "1e38",
        "1e39",
        "NaN",
        "inf",
        "-inf",
        "",
        "-",
        "e5",
        "1e",
    ];
    for text in texts {
        // Every operation on the number: parse, compare, wire form, encode, float.
        if let Some(n) = Number::parse(text) {
            let _ = n.to_wire();
            let _ = n.as_f64();
            let _ = n == Number::Int(1);
            let _ = n == n.clone();
            let _ = msgpack::encode(&Type::Number, &Value::Number(n.clone()));
        }
        // As msgpack text, as stored JSON and as a JSON string.
        let mp = {
            let mut b = Vec::new();
            rmp::encode::write_str(&mut b, text).unwrap();
            b
        };
        if let Ok(v) = msgpack::decode(&Type::Number, &mp) {
            let _ = msgpack::encode(&Type::Number, &v);
            assert!(from_value::<i64>(v.clone()).is_err() || text.parse::<i64>().is_ok(), "{text} read as i64");
            let _ = from_value::<i32>(v.clone());
            let _ = from_value::<u64>(v.clone());
            let _ = from_value::<f64>(v);
        }
        let _ = json::decode(&Type::Number, format!("{text:?}").as_bytes());
        if let Ok(v) = json::decode(&Type::Number, text.as_bytes()) {
            let _ = msgpack::encode(&Type::Number, &v);
            let _ = from_value::<i64>(v);
        }
    }
    // The value that killed the plugin: it stays that exact number and never becomes an i64.
    let v = json::decode(&Type::Number, b"1e9223372036854775807").expect("a number cty accepts");
    assert_eq!(v, Value::Number(Number::Decimal("1e9223372036854775807".into())));
    assert_ne!(v, Value::Number(Number::Decimal("1e9223372036854775806".into())));
    assert!(from_value::<i64>(v).is_err());
    let v = msgpack::decode(
        &Type::Number,
        &msgpack::encode(&Type::Number, &Value::Number(Number::Decimal("1e9223372036854775807".into()))),
    )
    .unwrap();
    assert_eq!(v, Value::Number(Number::Decimal("1e9223372036854775807".into())));
    // Floats that are no integer, NaN and infinities on the wire.
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e308, -1e308, 9.3e18, -9.3e18, 5e-324] {
        let mut b = Vec::new();
        rmp::encode::write_f64(&mut b, f).unwrap();
        let v = msgpack::decode(&Type::Number, &b).expect("a float");
        let _ = msgpack::encode(&Type::Number, &v);
        assert!(from_value::<i64>(v.clone()).is_err(), "{f} read as i64");
        let _ = from_value::<i32>(v);
    }
    // Integers at the edges of msgpack's ranges.
    for bytes in [&b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"[..], b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"] {
        let v = msgpack::decode(&Type::Number, bytes).expect("an integer");
        assert_eq!(msgpack::encode(&Type::Number, &v), bytes, "written back as it came");
        let _ = from_value::<i32>(v.clone());
        let _ = from_value::<u64>(v);
    }
}
