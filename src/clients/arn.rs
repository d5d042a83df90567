//! Elastic Load Balancing ARNs: parsed once, so bad input is caught at validate time with a
//! message that says what was expected.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    Listener,
    ListenerRule,
    TargetGroup,
    LoadBalancer,
}

impl fmt::Display for ArnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArnKind::Listener => "listener",
            ArnKind::ListenerRule => "listener rule",
            ArnKind::TargetGroup => "target group",
            ArnKind::LoadBalancer => "load balancer",
        })
    }
}

/// `arn:<partition>:elasticloadbalancing:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElbArn {
    pub kind: ArnKind,
    pub partition: String,
    pub region: String,
    pub account: String,
    /// For listeners and rules: `app/<lb-name>/<lb-id>/<listener-id>`; for target groups:
    /// `<name>/<id>`.
    pub path: String,
    /// Load balancer type for listeners and rules: `app`, `net` or `gwy`.
    pub lb_type: Option<String>,
}

impl ElbArn {
    pub fn parse(text: &str, want: ArnKind) -> Result<ElbArn, String> {
        let example = match want {
            ArnKind::Listener => {
                "arn:aws:elasticloadbalancing:<region>:<account>:listener/app/<lb-name>/<lb-id>/<listener-id>"
            }
            ArnKind::ListenerRule => {
                "arn:aws:elasticloadbalancing:<region>:<account>:listener-rule/app/<lb-name>/<lb-id>/<listener-id>/<rule-id>"
            }
            ArnKind::TargetGroup => "arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>",
            ArnKind::LoadBalancer => "arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>",
        };
        // Echo at most a line of the input back; a pasted blob should not fill the terminal.
        let shown: String = text.chars().take(200).collect();
        let shown = if shown.len() < text.len() { format!("{shown:?}…") } else { format!("{shown:?}") };
        let bad = |why: &str| format!("{shown} is not a {want} ARN ({why}); expected {example}");
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(bad("not an ARN"));
        }
        if !parts[1].starts_with("aws") {
            return Err(bad("unknown partition"));
        }
        if parts[2] != "elasticloadbalancing" {
            return Err(bad("not an Elastic Load Balancing ARN"));
        }
        if parts[3].is_empty() || parts[4].is_empty() {
            return Err(bad("region and account must be set"));
        }
        let (prefix, path) = parts[5].split_once('/').ok_or_else(|| bad("no resource path"))?;
        let segments: Vec<&str> = path.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(bad("empty path segment"));
        }
        let (kind, lb_type) = match (prefix, segments.len()) {
            ("listener", 4) => (ArnKind::Listener, Some(segments[0].to_string())),
            ("listener-rule", 5) => (ArnKind::ListenerRule, Some(segments[0].to_string())),
            ("targetgroup", 2) => (ArnKind::TargetGroup, None),
            ("loadbalancer", 3) => (ArnKind::LoadBalancer, Some(segments[0].to_string())),
            _ => {
                return Err(bad(&format!("resource {prefix:?} with {} path segments", segments.len())));
            }
        };
        if kind != want {
            return Err(bad(&format!("this is a {kind} ARN")));
        }
        if let Some(t) = &lb_type
            && !["app", "net", "gwy"].contains(&t.as_str())
        {
            return Err(bad(&format!("unknown load balancer type {t:?}")));
        }
        Ok(ElbArn {
            kind,
            partition: parts[1].to_string(),
            region: parts[3].to_string(),
            account: parts[4].to_string(),
            path: path.to_string(),
            lb_type,
        })
    }

    /// The name in the path: a target group's or a load balancer's.
    pub fn name(&self) -> &str {
        let segments: Vec<&str> = self.path.split('/').collect();
        match self.kind {
            ArnKind::TargetGroup => segments[0],
            _ => segments.get(1).copied().unwrap_or_default(),
        }
    }

    /// For a rule: the ARN of the listener it belongs to.
    pub fn listener_of_rule(&self) -> Option<String> {
        if self.kind != ArnKind::ListenerRule {
            return None;
        }
        let listener_path = self.path.rsplit_once('/')?.0;
        Some(format!(
            "arn:{}:elasticloadbalancing:{}:{}:listener/{}",
            self.partition, self.region, self.account, listener_path
        ))
    }
}

/// Checks that a rule belongs to the listener (both known).
pub fn check_rule_belongs(listener_arn: &str, rule_arn: &str) -> Result<(), String> {
    let rule = ElbArn::parse(rule_arn, ArnKind::ListenerRule)?;
    match rule.listener_of_rule() {
        Some(owner) if owner == listener_arn => Ok(()),
        Some(owner) => Err(format!("rule {rule_arn} belongs to listener {owner}, not to {listener_arn}")),
        None => Err(format!("{rule_arn} is not a listener rule ARN")),
    }
}

/// Validation shared by every type with `listener_arn` + optional `rule_arn`: the rule must be
/// one of that listener's (checked once both are known and well-formed).
pub fn validate_listener_and_rule(config: &crate::protocol::value::Value) -> crate::framework::Diagnostics {
    use crate::framework::{AttrPath, Diagnostics};
    if let (Some(l), Some(r)) = (config.get("listener_arn").as_str(), config.get("rule_arn").as_str())
        && ElbArn::parse(l, ArnKind::Listener).is_ok()
        && ElbArn::parse(r, ArnKind::ListenerRule).is_ok()
        && let Err(e) = check_rule_belongs(l, r)
    {
        return Diagnostics::attr_error(AttrPath::attr("rule_arn"), "Rule of another listener", e);
    }
    Diagnostics::new()
}

/// A validator for listener ARNs that must belong to an Application Load Balancer (`app/`):
/// network and gateway load balancers have no listener rules and no weighted forward actions.
pub fn validate_alb_listener() -> impl Fn(&crate::protocol::value::Value) -> Result<(), String> + Send + Sync {
    move |v| {
        let text = v.as_str().ok_or_else(|| "must be a listener ARN string".to_string())?;
        let arn = ElbArn::parse(text, ArnKind::Listener)?;
        match arn.lb_type.as_deref() {
            Some("app") => Ok(()),
            Some(t) => Err(format!(
                "this listener belongs to a {} load balancer; only an application load balancer (listener/app/...) \
                 has weighted forward actions across target groups and listener rules",
                if t == "net" { "network" } else { "gateway" }
            )),
            None => Ok(()),
        }
    }
}

/// An attribute validator for ARNs of one kind.
pub fn validate(kind: ArnKind) -> impl Fn(&crate::protocol::value::Value) -> Result<(), String> + Send + Sync {
    move |v| match v.as_str() {
        Some(s) => ElbArn::parse(s, kind).map(|_| ()),
        None => Err(format!("must be a {kind} ARN string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const R: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
    const T: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shard-1/73e2d6bc24d8a067";

    #[test]
    fn parses_each_kind_and_refuses_the_others() {
        assert_eq!(ElbArn::parse(L, ArnKind::Listener).unwrap().lb_type.as_deref(), Some("app"));
        assert!(ElbArn::parse(R, ArnKind::ListenerRule).is_ok());
        assert!(ElbArn::parse(T, ArnKind::TargetGroup).is_ok());
        let err = ElbArn::parse(T, ArnKind::Listener).unwrap_err();
        assert!(err.contains("target group ARN"), "{err}");
        for bad in [
            "",
            "listener",
            "arn:aws:ec2:eu-west-1:1:listener/app/a/b/c",
            "arn:aws:elasticloadbalancing:::listener/app/a/b/c",
        ] {
            assert!(ElbArn::parse(bad, ArnKind::Listener).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn only_application_load_balancer_listeners_carry_weights() {
        use crate::protocol::value::Value;
        assert!(validate_alb_listener()(&Value::str(L)).is_ok());
        let nlb = L.replace("listener/app/", "listener/net/");
        let err = validate_alb_listener()(&Value::str(&nlb)).unwrap_err();
        assert!(err.contains("network load balancer"), "{err}");
        let gwy = L.replace("listener/app/", "listener/gwy/");
        assert!(validate_alb_listener()(&Value::str(&gwy)).unwrap_err().contains("gateway"));
    }

    #[test]
    fn a_rule_knows_its_listener() {
        let rule = ElbArn::parse(R, ArnKind::ListenerRule).unwrap();
        assert_eq!(rule.listener_of_rule().as_deref(), Some(L));
    }
}
