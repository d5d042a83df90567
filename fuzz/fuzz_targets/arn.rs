//! Elastic Load Balancing ARN parsing (`ElbArn::parse`): an accepted ARN is exactly the text
//! its parts spell (nothing dropped or normalised), parses again to the same parts, is of the
//! kind asked for, names one segment of its path, and a rule's listener ARN is a listener ARN the rule belongs to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shard_provider::clients::arn::{ArnKind, ElbArn, check_rule_belongs};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in [ArnKind::Listener, ArnKind::ListenerRule, ArnKind::TargetGroup, ArnKind::LoadBalancer] {
        let arn = match ElbArn::parse(text, kind) {
            Ok(arn) => arn,
            Err(e) => {
                assert!(e.contains(&format!("is not a {kind} ARN")), "{e}");
                continue;
            }
        };
        assert_eq!(arn.kind, kind);
        let prefix = match kind {
            ArnKind::Listener => "listener",
            ArnKind::ListenerRule => "listener-rule",
            ArnKind::TargetGroup => "targetgroup",
            ArnKind::LoadBalancer => "loadbalancer",
        };
        let display =
            format!("arn:{}:elasticloadbalancing:{}:{}:{prefix}/{}", arn.partition, arn.region, arn.account, arn.path);
        assert_eq!(display, text, "the parts do not spell the ARN");
        assert_eq!(ElbArn::parse(&display, kind).as_ref(), Ok(&arn), "parse(display(arn))");
        // The name a target group's or a load balancer's display uses is one segment of the path.
        assert!(!arn.name().is_empty() && arn.path.split('/').any(|seg| seg == arn.name()), "{text:?}");
        match kind {
            ArnKind::ListenerRule => {
                let listener = arn.listener_of_rule().expect("a rule has a listener");
                let parent = ElbArn::parse(&listener, ArnKind::Listener)
                    .unwrap_or_else(|e| panic!("the listener of {text:?} does not parse: {e}"));
                assert_eq!(parent.lb_type, arn.lb_type);
                assert_eq!(check_rule_belongs(&listener, text), Ok(()));
            }
            _ => assert_eq!(arn.listener_of_rule(), None),
        }
    }
});
