//! Schemas: what a provider, resource or data source accepts and exposes, plus the per-attribute
//! behaviour the framework automates (defaults, replacement, unknown-marking, validators).

use super::diag::{AttrPath, Diagnostics};
use crate::protocol::tfplugin6 as pb;
use crate::protocol::value::{Type, Value};
use std::sync::Arc;

/// Checks one known, non-null value; `Err` carries the sentence shown to the user.
pub type Validator = Arc<dyn Fn(&Value) -> Result<(), String> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
    /// Why the whole type is deprecated (see [`Schema::deprecated`]).
    pub deprecation: Option<String>,
}

#[derive(Clone, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    /// Set through [`Schema::deprecated`] or [`NestedBlock::deprecated`], which also carry the
    /// message (a `Block` is built with struct literals elsewhere, so it has no message field).
    pub deprecated: bool,
}

#[derive(Clone)]
pub enum AttrKind {
    Typed(Type),
    Nested(Nesting, Vec<Attribute>),
}

/// How nested attributes or blocks repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
}

#[derive(Clone)]
pub struct Attribute {
    pub name: String,
    pub kind: AttrKind,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    /// Deprecated, with the message Terraform shows in its warning (see [`Attribute::deprecated`]).
    pub deprecation: Option<String>,
    /// A change to this attribute destroys and recreates the resource.
    pub requires_replace: bool,
    /// A computed attribute keeps its prior value in plans instead of becoming unknown.
    pub use_state_for_unknown: bool,
    /// Value planned when the configuration leaves this optional+computed attribute out.
    pub default: Option<Value>,
    pub validators: Vec<Validator>,
}

#[derive(Clone)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
    pub requires_replace: bool,
    /// Deprecated, with the message Terraform shows in its warning (see [`NestedBlock::deprecated`]).
    pub deprecation: Option<String>,
}

impl Schema {
    pub fn new(description: &str, attributes: Vec<Attribute>) -> Schema {
        Schema {
            version: 0,
            block: Block { attributes, blocks: Vec::new(), description: description.to_string(), deprecated: false },
            deprecation: None,
        }
    }
    /// Deprecates the whole resource, data source or provider: Terraform warns with `message`
    /// wherever the type is used.
    pub fn deprecated(mut self, message: &str) -> Schema {
        self.block.deprecated = true;
        self.deprecation = Some(message.to_string());
        self
    }
    pub fn with_block(mut self, block: NestedBlock) -> Schema {
        self.block.blocks.push(block);
        self
    }
    pub fn with_version(mut self, version: i64) -> Schema {
        self.version = version;
        self
    }
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema { version: self.version, block: Some(self.block.to_proto(self.deprecation.as_deref())) }
    }

    /// Checks the schema is one Terraform accepts; run by tests over every registered type.
    pub fn check(&self) -> Result<(), String> {
        self.block.check("")
    }
}

impl Block {
    pub fn value_type(&self) -> Type {
        let mut attrs = std::collections::BTreeMap::new();
        for a in &self.attributes {
            attrs.insert(a.name.clone(), a.value_type());
        }
        for b in &self.blocks {
            let obj = b.block.value_type();
            attrs.insert(b.name.clone(), wrap(b.nesting, obj));
        }
        Type::Object(attrs)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// `deprecation` is the message of the schema or nested block this block belongs to.
    fn to_proto(&self, deprecation: Option<&str>) -> pb::schema::Block {
        let mut attributes: Vec<_> = self.attributes.iter().map(Attribute::to_proto).collect();
        attributes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut block_types: Vec<_> = self.blocks.iter().map(NestedBlock::to_proto).collect();
        block_types.sort_by(|a, b| a.type_name.cmp(&b.type_name));
        pb::schema::Block {
            version: 0,
            attributes,
            block_types,
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            // Terraform refuses a message without the flag, so the flag is what decides.
            deprecated: self.deprecated || deprecation.is_some(),
            deprecation_message: deprecation.unwrap_or_default().to_string(),
        }
    }

    fn check(&self, prefix: &str) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for a in &self.attributes {
            a.check(prefix)?;
            if !names.insert(a.name.as_str()) {
                return Err(format!("{prefix}{}: duplicate name", a.name));
            }
        }
        for b in &self.blocks {
            check_name(prefix, &b.name)?;
            if !names.insert(b.name.as_str()) {
                return Err(format!("{prefix}{}: duplicate name", b.name));
            }
            b.block.check(&format!("{prefix}{}.", b.name))?;
        }
        Ok(())
    }
}

fn wrap(nesting: Nesting, obj: Type) -> Type {
    match nesting {
        Nesting::Single => obj,
        Nesting::List => Type::list(obj),
        Nesting::Set => Type::set(obj),
        Nesting::Map => Type::map(obj),
    }
}

fn check_name(prefix: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok { Ok(()) } else { Err(format!("{prefix}{name}: names are lowercase letters, digits and _")) }
}

impl Attribute {
    fn base(name: &str, kind: AttrKind) -> Attribute {
        Attribute {
            name: name.to_string(),
            kind,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
            requires_replace: false,
            use_state_for_unknown: false,
            default: None,
            validators: Vec::new(),
        }
    }
    pub fn new(name: &str, ty: Type) -> Attribute {
        Attribute::base(name, AttrKind::Typed(ty))
    }
    pub fn string(name: &str) -> Attribute {
        Attribute::new(name, Type::String)
    }
    pub fn number(name: &str) -> Attribute {
        Attribute::new(name, Type::Number)
    }
    pub fn bool(name: &str) -> Attribute {
        Attribute::new(name, Type::Bool)
    }
    /// Attributes nested inside this one (`nested_type`), e.g. a list of objects.
    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Attribute {
        Attribute::base(name, AttrKind::Nested(nesting, attributes))
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Sent by Terraform in config only; never stored in plan or state.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }
    /// Marks the attribute deprecated; Terraform warns with `message` when it is configured.
    pub fn deprecated(mut self, message: &str) -> Self {
        self.deprecation = Some(message.to_string());
        self
    }
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
    pub fn use_state_for_unknown(mut self) -> Self {
        self.use_state_for_unknown = true;
        self
    }
    /// Optional + computed with this value when not configured.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.optional = true;
        self.computed = true;
        self.default = Some(value.into());
        self
    }
    pub fn validate(mut self, v: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static) -> Self {
        self.validators.push(Arc::new(v));
        self
    }

    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttrKind::Typed(t) => t.clone(),
            AttrKind::Nested(nesting, attrs) => {
                let obj = Type::Object(attrs.iter().map(|a| (a.name.clone(), a.value_type())).collect());
                wrap(*nesting, obj)
            }
        }
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        let (ty, nested_type) = match &self.kind {
            AttrKind::Typed(t) => (t.to_json().to_string().into_bytes(), None),
            AttrKind::Nested(nesting, attrs) => {
                use pb::schema::object::NestingMode as M;
                let mut attributes: Vec<_> = attrs.iter().map(Attribute::to_proto).collect();
                attributes.sort_by(|a, b| a.name.cmp(&b.name));
                let nesting = match nesting {
                    Nesting::Single => M::Single,
                    Nesting::List => M::List,
                    Nesting::Set => M::Set,
                    Nesting::Map => M::Map,
                };
                #[allow(deprecated)]
                let obj = pb::schema::Object { attributes, nesting: nesting as i32, min_items: 0, max_items: 0 };
                (Vec::new(), Some(obj))
            }
        };
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: ty,
            nested_type,
            description: self.description.clone(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecation.is_some(),
            deprecation_message: self.deprecation.clone().unwrap_or_default(),
            write_only: self.write_only,
        }
    }

    fn check(&self, prefix: &str) -> Result<(), String> {
        check_name(prefix, &self.name)?;
        let at = format!("{prefix}{}", self.name);
        match (self.required, self.optional, self.computed) {
            (true, false, false) | (false, true, _) | (false, false, true) => {}
            _ => {
                return Err(format!("{at}: exactly one of required, optional, computed (optional may add computed)"));
            }
        }
        if self.write_only && (self.computed || self.default.is_some()) {
            return Err(format!("{at}: write-only attributes cannot be computed"));
        }
        if self.default.is_some() && !(self.optional && self.computed) {
            return Err(format!("{at}: a default needs optional + computed"));
        }
        if let AttrKind::Nested(_, attrs) = &self.kind {
            for a in attrs {
                a.check(&format!("{at}."))?;
            }
        }
        Ok(())
    }
}

impl NestedBlock {
    pub fn new(name: &str, nesting: Nesting, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.to_string(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
            deprecation: None,
        }
    }
    /// A block that may appear once (`ramp { ... }`).
    pub fn single(name: &str, description: &str, attributes: Vec<Attribute>) -> NestedBlock {
        let block = Block { attributes, blocks: Vec::new(), description: description.to_string(), deprecated: false };
        NestedBlock::new(name, Nesting::Single, block)
    }
    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
    /// Marks the block deprecated; Terraform warns with `message` when it is configured.
    pub fn deprecated(mut self, message: &str) -> Self {
        self.block.deprecated = true;
        self.deprecation = Some(message.to_string());
        self
    }

    fn to_proto(&self) -> pb::schema::NestedBlock {
        use pb::schema::nested_block::NestingMode as M;
        let nesting = match self.nesting {
            Nesting::Single => M::Single,
            Nesting::List => M::List,
            Nesting::Set => M::Set,
            Nesting::Map => M::Map,
        };
        pb::schema::NestedBlock {
            type_name: self.name.clone(),
            block: Some(self.block.to_proto(self.deprecation.as_deref())),
            nesting: nesting as i32,
            min_items: self.min_items,
            max_items: self.max_items,
        }
    }
}

/// Runs attribute validators over a configuration value, reporting at each attribute's path.
/// Unknown and null values are skipped: they are checked again once known.
pub fn run_validators(block: &Block, value: &Value, path: &AttrPath, diags: &mut Diagnostics) {
    if value.is_null() || value.is_unknown() {
        return;
    }
    for a in &block.attributes {
        let v = value.get(&a.name);
        let p = path.then(&a.name);
        if v.is_null() || v.is_unknown() {
            continue;
        }
        for check in &a.validators {
            if let Err(msg) = check(v) {
                diags.push_attr_error(p.clone(), format!("Invalid value for {}", a.name), msg);
            }
        }
        if let AttrKind::Nested(nesting, attrs) = &a.kind {
            let inner = Block { attributes: attrs.clone(), ..Block::default() };
            for_each_nested(*nesting, v, &p, |ev, ep| run_validators(&inner, ev, ep, diags));
        }
    }
    for b in &block.blocks {
        let v = value.get(&b.name);
        let p = path.then(&b.name);
        for_each_nested(b.nesting, v, &p, |ev, ep| run_validators(&b.block, ev, ep, diags));
    }
}

/// Calls `f` for each object inside a nested value, with its path.
pub fn for_each_nested(nesting: Nesting, v: &Value, path: &AttrPath, mut f: impl FnMut(&Value, &AttrPath)) {
    match (nesting, v) {
        (Nesting::Single, v) => f(v, path),
        (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
            for (i, item) in items.iter().enumerate() {
                f(item, &path.index(i));
            }
        }
        (Nesting::Map, Value::Map(m) | Value::Object(m)) => {
            for (k, item) in m {
                f(item, &path.key(k));
            }
        }
        _ => {}
    }
}

/// Ready-made validators.
pub mod validators {
    use super::Value;
    use crate::framework::duration::parse_duration;

    pub fn int_between(min: i64, max: i64) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(()),
            Some(i) => Err(format!("must be between {min} and {max} inclusive, got {i}")),
            None => Err(format!("must be a whole number between {min} and {max}")),
        }
    }

    /// A number (whole or not) in `min..=max`.
    pub fn number_between(min: f64, max: f64) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v {
            Value::Number(n) if (min..=max).contains(&n.as_f64()) => Ok(()),
            Value::Number(n) => Err(format!("must be between {min} and {max} inclusive, got {}", n.as_f64())),
            _ => Err(format!("must be a number between {min} and {max}")),
        }
    }

    pub fn one_of(allowed: &'static [&'static str]) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            Some(s) => Err(format!("must be one of {}, got {s:?}", allowed.join(", "))),
            None => Err("must be a string".into()),
        }
    }

    /// A Go-style duration such as "30s", "15m" or "1h30m".
    pub fn duration() -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        |v| match v.as_str() {
            Some(s) => parse_duration(s).map(|_| ()),
            None => Err("must be a duration string such as \"30s\" or \"15m\"".into()),
        }
    }

    /// A duration as [`duration`] accepts, longer than zero: a `0s` timeout would fail every
    /// operation before its first call.
    pub fn positive_duration() -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        |v| match v.as_str() {
            Some(s) => match parse_duration(s)? {
                d if d.is_zero() => Err(format!(
                    "{s:?} is zero: nothing could finish within it; give a positive duration such as \"5m\""
                )),
                _ => Ok(()),
            },
            None => Err("must be a duration string such as \"30s\" or \"15m\"".into()),
        }
    }

    /// Whether `url` is a plain `http://` URL to a host other than this machine (`localhost`,
    /// 127.0.0.0/8, `::1`): what an insecure-transport warning is about. Loopback traffic never
    /// leaves the machine (moto, LocalStack, `kubectl proxy`), so no one on a network can read it.
    pub fn is_remote_plaintext(url: &str) -> bool {
        let Ok(uri) = url.parse::<http::Uri>() else { return false };
        if !uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("http")) {
            return false;
        }
        let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
        let loopback =
            host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        !loopback
    }

    pub fn non_empty() -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        |v| match v.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(()),
            _ => Err("must not be empty".into()),
        }
    }

    /// Adapts a check of a string (a naming rule, a parser) to a validator; any other value is
    /// refused.
    pub fn string(
        check: impl Fn(&str) -> Result<(), String> + Send + Sync,
    ) -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        move |v| match v.as_str() {
            Some(s) => check(s),
            None => Err("must be a string".into()),
        }
    }

    /// An `http://` or `https://` URL with a host, such as `https://10.0.0.1:6443` (see
    /// [`check_url`]).
    pub fn url() -> impl Fn(&Value) -> Result<(), String> + Send + Sync {
        string(check_url)
    }

    /// Whether `s` is an `http://` or `https://` URL with a host (and, if given, a valid port),
    /// for checks outside a validator (a connection block's `host`, say).
    pub fn check_url(s: &str) -> Result<(), String> {
        let refuse =
            || format!("{s:?} is not a URL: use http:// or https:// and a host, such as https://example.com:6443");
        let uri: http::Uri = s.parse().map_err(|_| refuse())?;
        let scheme_ok =
            uri.scheme_str().is_some_and(|sc| sc.eq_ignore_ascii_case("http") || sc.eq_ignore_ascii_case("https"));
        let (Some(authority), Some(host)) = (uri.authority(), uri.host()) else { return Err(refuse()) };
        // What follows the host: nothing, or a port that fits 16 bits.
        let after_host = authority.as_str().rsplit('@').next().and_then(|hp| hp.strip_prefix(host));
        let port_ok = match after_host {
            Some("") => true,
            Some(p) => p.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok()),
            None => false,
        };
        if scheme_ok && !host.is_empty() && host != "[]" && port_ok { Ok(()) } else { Err(refuse()) }
    }
}

/// A resource's identity (Terraform 1.12+): the attributes that name its remote object for good.
/// Terraform stores it beside the state and accepts it in `import { identity = { ... } }`.
/// Identity attributes are taken from the state by name, so they must be state attributes too.
#[derive(Clone)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Clone)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    /// Must be given when importing by identity (otherwise optional).
    pub required_for_import: bool,
    pub description: String,
}

impl IdentityAttribute {
    pub fn string(name: &str, required_for_import: bool, description: &str) -> IdentityAttribute {
        IdentityAttribute { name: name.into(), ty: Type::String, required_for_import, description: description.into() }
    }
}

impl IdentitySchema {
    pub fn value_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|a| (a.name.clone(), a.ty.clone())).collect())
    }

    pub fn to_proto(&self) -> pb::ResourceIdentitySchema {
        pb::ResourceIdentitySchema {
            version: self.version,
            identity_attributes: self
                .attributes
                .iter()
                .map(|a| pb::resource_identity_schema::IdentityAttribute {
                    name: a.name.clone(),
                    r#type: a.ty.to_json().to_string().into_bytes(),
                    required_for_import: a.required_for_import,
                    optional_for_import: !a.required_for_import,
                    description: a.description.clone(),
                })
                .collect(),
        }
    }

    /// The identity of a state; None for a null state or one with unknown identity values.
    pub fn of_state(&self, state: &Value) -> Option<Value> {
        if state.is_null() || state.is_unknown() {
            return None;
        }
        let identity =
            Value::Object(self.attributes.iter().map(|a| (a.name.clone(), state.get(&a.name).clone())).collect());
        identity.is_wholly_known().then_some(identity)
    }

    /// Checks every identity attribute is a state attribute of the same type.
    pub fn check(&self, schema: &Schema) -> Result<(), String> {
        for a in &self.attributes {
            match schema.block.attribute(&a.name) {
                Some(s) if s.value_type() == a.ty => {}
                Some(_) => return Err(format!("identity attribute {} has another type than in the schema", a.name)),
                None => return Err(format!("identity attribute {} is not a schema attribute", a.name)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn url_accepts_http_and_https_urls_with_a_host_only() {
        let url = validators::url();
        for ok in [
            "https://10.0.0.1:6443",
            "http://127.0.0.1:5000",
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
            "https://example.com/path?q=1",
            "HTTPS://example.com",
            "https://[::1]:6443",
        ] {
            assert_eq!(url(&Value::str(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "s.example.com",
            "https://",
            "https:///path",
            "ftp://example.com",
            "https://exa mple.com",
            "",
            "https://h:99999",
        ] {
            let e = url(&Value::str(bad)).expect_err(bad);
            assert!(e.contains("is not a URL") && e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert_eq!(url(&Value::Bool(true)), Err("must be a string".to_string()));
        assert_eq!(validators::check_url("https://h"), Ok(()));
    }

    #[test]
    fn positive_durations_and_remote_plaintext() {
        let d = validators::positive_duration();
        assert_eq!(d(&Value::str("1s")), Ok(()));
        for zero in ["0s", "0", "0m0s"] {
            assert!(d(&Value::str(zero)).unwrap_err().contains("is zero"), "{zero}");
        }
        assert!(d(&Value::str("soon")).unwrap_err().contains("not a duration"));
        for remote in ["http://sts.example.com", "HTTP://10.0.0.1:8080", "http://[fd00::1]:80"] {
            assert!(validators::is_remote_plaintext(remote), "{remote}");
        }
        for local in [
            "https://sts.example.com",
            "http://127.0.0.1:5000",
            "http://127.8.0.1",
            "http://localhost:80",
            "http://[::1]:5000",
            "not a url",
        ] {
            assert!(!validators::is_remote_plaintext(local), "{local}");
        }
    }

    #[test]
    fn string_adapts_a_str_check() {
        let short = validators::string(|s| if s.len() <= 3 { Ok(()) } else { Err(format!("{s} is too long")) });
        assert_eq!(short(&Value::str("abc")), Ok(()));
        assert_eq!(short(&Value::str("abcd")), Err("abcd is too long".to_string()));
        assert_eq!(short(&Value::int(1)), Err("must be a string".to_string()));
    }

    #[test]
    fn deprecations_travel_as_flag_and_message() {
        let schema = Schema::new(
            "t",
            vec![
                Attribute::string("old").optional().description("Was used.").deprecated("Use `new` instead."),
                Attribute::string("new").optional(),
            ],
        )
        .with_block(
            NestedBlock::single("legacy", "", vec![Attribute::string("x").optional()])
                .deprecated("Remove the `legacy` block."),
        );
        // Through the wire encoding, as Terraform receives it.
        let bytes = schema.to_proto().encode_to_vec();
        let back = pb::Schema::decode(bytes.as_slice()).unwrap();
        let block = back.block.unwrap();
        let old = block.attributes.iter().find(|a| a.name == "old").unwrap();
        assert!(old.deprecated);
        assert_eq!(old.deprecation_message, "Use `new` instead.");
        assert_eq!(old.description, "Was used.", "the message is no longer folded into the description");
        let new = block.attributes.iter().find(|a| a.name == "new").unwrap();
        assert!(!new.deprecated && new.deprecation_message.is_empty());
        let legacy = block.block_types[0].block.as_ref().unwrap();
        assert!(legacy.deprecated);
        assert_eq!(legacy.deprecation_message, "Remove the `legacy` block.");
        assert!(!block.deprecated && block.deprecation_message.is_empty());
        // Field numbers as upstream: Attribute.deprecation_message = 12, Block's = 7.
        let attr_bytes = old.encode_to_vec();
        let msg = b"Use `new` instead.";
        let tagged: Vec<u8> = [&[(12 << 3) | 2, msg.len() as u8][..], msg].concat();
        assert!(attr_bytes.windows(tagged.len()).any(|w| w == tagged.as_slice()));
        let block_bytes = legacy.encode_to_vec();
        let msg = b"Remove the `legacy` block.";
        let tagged: Vec<u8> = [&[(7 << 3) | 2, msg.len() as u8][..], msg].concat();
        assert!(block_bytes.windows(tagged.len()).any(|w| w == tagged.as_slice()));

        // A whole deprecated type.
        let gone = Schema::new("t", vec![]).deprecated("Use shard_weight.").to_proto().block.unwrap();
        assert!(gone.deprecated);
        assert_eq!(gone.deprecation_message, "Use shard_weight.");
    }
}
