//! The AWS realism layer of the bench: tests/fixtures/fault_proxy.py in front of moto answers like
//! ELBv2 where moto is kinder (unused targets, weight range, rule quota, one load balancer per target
//! group, paging, read-after-write lag), next to its injected faults. Errors are checked through the
//! AWS Rust SDK the provider uses, so they are proven to parse as the modelled ELBv2 errors.

mod support;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::error::ProvideErrorMetadata;
use elbv2::types::{Action, ActionTypeEnum, ForwardActionConfig, ProtocolEnum, RuleCondition, TargetGroupTuple};
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::shards::weights;
use support::{FaultProxy, Moto};

struct Topo {
    lb: String,
    listener: String,
    rule: Option<String>,
    tgs: Vec<String>,
    vpc: String,
}

/// A load balancer with a listener forwarding to its own target groups, arranged directly in moto.
fn topology(moto: &Moto, opts: &[&str]) -> Topo {
    let mut args = vec!["topology"];
    args.extend_from_slice(opts);
    let t = moto.fixture(&args);
    Topo {
        lb: t["load_balancer"].as_str().unwrap().into(),
        listener: t["listener"].as_str().unwrap().into(),
        rule: t["rule"].as_str().map(str::to_string),
        tgs: serde_json::from_value(t["target_groups"].clone()).unwrap(),
        vpc: t["vpc"].as_str().unwrap().into(),
    }
}

fn via(proxy: &FaultProxy) -> String {
    format!("endpoint={}", proxy.endpoint)
}

/// (state, reason) of every target of a target group, through the proxy or (None) straight from moto.
fn health(moto: &Moto, proxy: Option<&FaultProxy>, tg: &str) -> Vec<(String, Option<String>)> {
    let endpoint = proxy.map(via);
    let mut args = vec!["health", tg];
    args.extend(endpoint.as_deref());
    let answer = moto.fixture(&args);
    let targets = answer.as_array().expect("health list");
    assert!(!targets.is_empty(), "no targets in {tg}");
    targets.iter().map(|t| (t[1].as_str().unwrap().to_string(), t[2].as_str().map(str::to_string))).collect()
}

fn all(state: &str, reason: Option<&str>, n: usize) -> Vec<(String, Option<String>)> {
    vec![(state.to_string(), reason.map(str::to_string)); n]
}

fn tg_of(moto: &Moto, args: &[&str]) -> String {
    let mut a = vec!["target-group"];
    a.extend_from_slice(args);
    moto.fixture(&a)["arn"].as_str().unwrap().to_string()
}

/// One plain HTTP/1.0 exchange with the proxy's control endpoints: (status, body).
fn http(proxy: &FaultProxy, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = proxy.endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to proxy");
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .expect("write to proxy");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read proxy");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// Replaces the proxy's rules (POST /__rules) and returns the rules now in force.
fn set_rules(proxy: &FaultProxy, rules: &str) -> Json {
    let (status, body) = http(proxy, "POST", "/__rules", rules);
    assert_eq!(status, 200, "POST /__rules {rules:?}: {body}");
    serde_json::from_str(&body).expect("rules JSON")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// The AWS Rust SDK's ELBv2 client against `endpoint`, without retries so every answer shows.
fn sdk(endpoint: &str) -> elbv2::Client {
    let conf = elbv2::Config::builder()
        .behavior_version(elbv2::config::BehaviorVersion::latest())
        .region(elbv2::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(elbv2::config::Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(elbv2::config::retry::RetryConfig::disabled())
        .build();
    elbv2::Client::from_conf(conf)
}

fn forward(tgs: &[(&str, i32)]) -> Action {
    let tuples = tgs.iter().map(|(arn, w)| TargetGroupTuple::builder().target_group_arn(*arn).weight(*w).build());
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(ForwardActionConfig::builder().set_target_groups(Some(tuples.collect())).build())
        .build()
}

fn path(p: &str) -> RuleCondition {
    RuleCondition::builder().field("path-pattern").values(p).build()
}

/// HTTP status, code, message and the modelled error of a failed SDK call.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(err: elbv2::error::SdkError<E>) -> (u16, String, String, E) {
    match err {
        elbv2::error::SdkError::ServiceError(failed) => {
            let status = failed.raw().status().as_u16();
            let e = failed.into_err();
            (status, e.code().unwrap_or_default().to_string(), e.message().unwrap_or_default().to_string(), e)
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// Puts `tg` into the listener's forward action at weight 0, beside its two groups at 50, via the proxy.
fn join(moto: &Moto, proxy: &FaultProxy, t: &Topo, tg: &str) {
    let args = [
        "set-weights".to_string(),
        t.listener.clone(),
        format!("{}=50", t.tgs[0]),
        format!("{}=50", t.tgs[1]),
        format!("{tg}=0"),
        via(proxy),
    ];
    moto.fixture(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn a_target_group_no_action_references_reports_unused_until_it_joins_the_forward_action() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "");
    let t = topology(&moto, &["weights=50,50"]);
    let fresh = tg_of(&moto, &[&format!("vpc={}", t.vpc)]);
    moto.fixture(&["register", &fresh, "2"]);
    moto.fixture(&["register", &t.tgs[0], "1"]);

    // moto alone calls every registered target healthy; ELBv2 health-checks only target groups an
    // action references.
    assert_eq!(health(&moto, None, &fresh), all("healthy", None, 2));
    assert_eq!(health(&moto, Some(&proxy), &fresh), all("unused", Some("Target.NotInUse"), 2));
    let described = moto.fixture(&["health", &fresh, &via(&proxy)]);
    assert_eq!(described[0][3], "Target group is not configured to receive traffic from the load balancer");
    assert_eq!(health(&moto, Some(&proxy), &t.tgs[0]), all("healthy", None, 1), "a target group in the action");

    // Joining the forward action at weight 0 is enough to be health-checked.
    join(&moto, &proxy, &t, &fresh);
    assert_eq!(health(&moto, Some(&proxy), &fresh), all("healthy", None, 2));

    // Out of every action again (written to moto directly: the proxy reads the topology each time).
    moto.fixture(&["set-weights", &t.listener, &format!("{}=50", t.tgs[0]), &format!("{}=50", t.tgs[1])]);
    assert_eq!(health(&moto, Some(&proxy), &fresh), all("unused", Some("Target.NotInUse"), 2));

    // A Lambda target group has health checks off unless enabled: unused outside any action, then
    // unavailable / Target.HealthCheckDisabled once a rule forwards to it.
    let lambda = tg_of(&moto, &["type=lambda"]);
    moto.fixture(&["register-lambda", &lambda]);
    assert_eq!(health(&moto, None, &lambda), all("healthy", None, 1));
    assert_eq!(health(&moto, Some(&proxy), &lambda), all("unused", Some("Target.NotInUse"), 1));
    let rule = json!({"ListenerArn": t.listener, "Priority": 5,
        "Conditions": [{"Field": "path-pattern", "Values": ["/fn/*"]}],
        "Actions": [{"Type": "forward", "TargetGroupArn": lambda}]});
    let created = moto.fixture(&["call", "create_rule", &rule.to_string(), &via(&proxy)]);
    assert!(created["ok"]["Rules"][0]["RuleArn"].is_string(), "{created}");
    assert_eq!(health(&moto, Some(&proxy), &lambda), all("unavailable", Some("Target.HealthCheckDisabled"), 1));
}

#[test]
fn targets_report_initial_for_the_configured_time_after_their_group_joins() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "initial=8");
    let t = topology(&moto, &["weights=50,50"]);
    let fresh = tg_of(&moto, &[&format!("vpc={}", t.vpc)]);
    moto.fixture(&["register", &fresh, "1"]);
    let start = Instant::now();
    join(&moto, &proxy, &t, &fresh);
    assert_eq!(health(&moto, Some(&proxy), &fresh), all("initial", Some("Elb.RegistrationInProgress"), 1));
    let mut healthy_after = None;
    while start.elapsed() < Duration::from_secs(30) {
        if health(&moto, Some(&proxy), &fresh) == all("healthy", None, 1) {
            healthy_after = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let healthy_after = healthy_after.expect("healthy within 30 s");
    // The group joined after `start`, so it cannot have become healthy sooner than 8 s after it.
    assert!(healthy_after >= Duration::from_secs(8), "healthy after {healthy_after:?}");
}

#[test]
fn weights_outside_0_to_999_are_refused_as_elbv2_words_it() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "");
    let t = topology(&moto, &["weights=50,50", "rule=1"]);
    let rule = t.rule.clone().unwrap();
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    let before = weights(&moto, &t.listener);
    let message = "The weight for each target group must be between 0 and 999, inclusive";

    let err = rt
        .block_on(elb.modify_listener().listener_arn(&t.listener).default_actions(forward(&[(&t.tgs[0], 1000)])).send())
        .expect_err("weight 1000 on ModifyListener");
    let (status, code, msg, _) = failure(err);
    assert_eq!((status, code.as_str(), msg.as_str()), (400, "ValidationError", message));
    assert_eq!(weights(&moto, &t.listener), before, "the listener is untouched");

    let err = rt
        .block_on(elb.modify_rule().rule_arn(&rule).actions(forward(&[(&t.tgs[0], -1), (&t.tgs[1], 5)])).send())
        .expect_err("weight -1 on ModifyRule");
    assert_eq!(failure(err).1, "ValidationError");
    let err = rt
        .block_on(
            elb.create_rule()
                .listener_arn(&t.listener)
                .priority(20)
                .conditions(path("/w/*"))
                .actions(forward(&[(&t.tgs[0], 1000)]))
                .send(),
        )
        .expect_err("weight 1000 on CreateRule");
    assert_eq!(failure(err).2, message);
    let err = rt
        .block_on(
            elb.create_listener()
                .load_balancer_arn(&t.lb)
                .protocol(ProtocolEnum::Http)
                .port(8080)
                .default_actions(forward(&[(&t.tgs[0], 1000)]))
                .send(),
        )
        .expect_err("weight 1000 on CreateListener");
    assert_eq!(failure(err).2, message);

    // 0 and 999 are the bounds, both accepted.
    rt.block_on(
        elb.modify_listener()
            .listener_arn(&t.listener)
            .default_actions(forward(&[(&t.tgs[0], 999), (&t.tgs[1], 0)]))
            .send(),
    )
    .expect("weights 999 and 0");
    assert_eq!(weights(&moto, &t.listener), vec![(t.tgs[0].clone(), 999), (t.tgs[1].clone(), 0)]);
    // moto alone takes 1000: the refusal is the proxy's.
    moto.fixture(&["set-weights", &t.listener, &format!("{}=1000", t.tgs[0])]);
    assert_eq!(weights(&moto, &t.listener), vec![(t.tgs[0].clone(), 1000)]);
}

#[test]
fn the_third_rule_on_a_load_balancer_with_max_rules_2_gets_too_many_rules() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "max_rules=2");
    let t = topology(&moto, &["weights=50,50", "rule=1"]);
    // The quota counts the rules of every listener of the load balancer, default rules excluded.
    let second: String = moto.fixture(&["listener", &t.lb, "81", &t.tgs[0], &via(&proxy)]).as_str().unwrap().into();
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    #[allow(clippy::result_large_err)] // the SDK's own error type, inspected below
    let create = |listener: &str, priority: i32| {
        rt.block_on(
            elb.create_rule()
                .listener_arn(listener)
                .priority(priority)
                .conditions(path(&format!("/p{priority}/*")))
                .actions(forward(&[(&t.tgs[1], 1)]))
                .send(),
        )
    };
    let made = create(&second, 30).expect("the second rule fits");
    let err = create(&t.listener, 31).expect_err("a third rule");
    let (status, code, msg, e) = failure(err);
    assert!(e.is_too_many_rules_exception(), "{e:?}");
    assert_eq!((status, code.as_str()), (400, "TooManyRules"));
    assert_eq!(msg, format!("The maximum number of rules on load balancer {} has been reached", t.lb));
    let rules = moto.fixture(&["rules", &t.listener]);
    assert_eq!(rules.as_array().unwrap().len(), 2, "only the topology's rule and the default rule: {rules}");

    // A freed slot can be used again.
    let arn = made.rules()[0].rule_arn().unwrap().to_string();
    rt.block_on(elb.delete_rule().rule_arn(arn).send()).expect("delete a rule");
    create(&t.listener, 31).expect("a rule in the freed slot");
}

#[test]
fn a_target_group_another_load_balancer_uses_is_refused() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "");
    let a = topology(&moto, &["weights=50,50", "rule=1"]);
    let b = topology(&moto, &["weights=50,50"]);
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    let before = weights(&moto, &a.listener);
    let message =
        format!("The following target groups cannot be associated with more than one load balancer: {}", b.tgs[0]);

    let err = rt
        .block_on(
            elb.modify_listener()
                .listener_arn(&a.listener)
                .default_actions(forward(&[(&a.tgs[0], 5), (&b.tgs[0], 5)]))
                .send(),
        )
        .expect_err("ModifyListener with another load balancer's target group");
    let (status, code, msg, e) = failure(err);
    assert!(e.is_target_group_association_limit_exception(), "{e:?}");
    assert_eq!((status, code.as_str(), msg.as_str()), (400, "TargetGroupAssociationLimit", message.as_str()));
    assert_eq!(weights(&moto, &a.listener), before, "the listener is untouched");
    let err = rt
        .block_on(
            elb.create_rule()
                .listener_arn(&a.listener)
                .priority(40)
                .conditions(path("/b/*"))
                .actions(forward(&[(&b.tgs[0], 1)]))
                .send(),
        )
        .expect_err("CreateRule with another load balancer's target group");
    assert!(failure(err).3.is_target_group_association_limit_exception());
    let err = rt
        .block_on(elb.modify_rule().rule_arn(a.rule.as_deref().unwrap()).actions(forward(&[(&b.tgs[1], 1)])).send())
        .expect_err("ModifyRule with another load balancer's target group");
    assert!(failure(err).3.is_target_group_association_limit_exception());

    // DescribeTargetGroups names the one load balancer that uses each group (moto repeats a load
    // balancer once per listener and rule that referenced the group, and never forgets one).
    let lbs = |tg: &str| {
        let out = rt.block_on(elb.describe_target_groups().target_group_arns(tg).send()).expect("describe");
        out.target_groups()[0].load_balancer_arns().to_vec()
    };
    assert_eq!(lbs(&b.tgs[0]), vec![b.lb.clone()]);
    assert_eq!(lbs(&a.tgs[0]), vec![a.lb.clone()]);
    let raw = moto.fixture(&["call", "describe_target_groups", &json!({"TargetGroupArns": [a.tgs[0]]}).to_string()]);
    assert_eq!(raw["ok"]["TargetGroups"][0]["LoadBalancerArns"], json!([a.lb, a.lb]), "moto's own answer");

    // Once b no longer uses it, a may.
    moto.fixture(&["set-weights", &b.listener, &format!("{}=100", b.tgs[1])]);
    assert_eq!(lbs(&b.tgs[0]), Vec::<String>::new());
    rt.block_on(
        elb.modify_listener()
            .listener_arn(&a.listener)
            .default_actions(forward(&[(&a.tgs[0], 5), (&b.tgs[0], 5)]))
            .send(),
    )
    .expect("a free target group joins");
    assert_eq!(lbs(&b.tgs[0]), vec![a.lb.clone()]);
}

#[test]
fn describe_rules_and_listeners_come_in_pages_that_together_hold_everything_once() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "");
    let t = topology(&moto, &["weights=50,50", "rule=1"]);
    moto.fixture(&["fill-rules", &t.listener, "54"]);
    // moto itself pages DescribeRules at 50; 55 rules and the default rule are 56.
    let raw: Vec<Vec<String>> = serde_json::from_value(moto.fixture(&["pages", "rules", &t.listener])).unwrap();
    assert_eq!(raw.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 6]);
    let everything: BTreeSet<String> = raw.concat().into_iter().collect();
    assert_eq!(everything.len(), 56);

    // Through the proxy: pages of 2, every rule exactly once, with the SDK's own paginator.
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    let pages: Vec<Vec<String>> = rt.block_on(async {
        let mut stream = elb.describe_rules().listener_arn(&t.listener).into_paginator().send();
        let mut pages = Vec::new();
        while let Some(page) = stream.next().await {
            pages.push(page.expect("a page").rules().iter().map(|r| r.rule_arn().unwrap().to_string()).collect());
        }
        pages
    });
    assert_eq!(pages.len(), 28);
    assert!(pages.iter().all(|p| p.len() == 2), "{:?}", pages.iter().map(Vec::len).collect::<Vec<_>>());
    let seen: Vec<String> = pages.concat();
    assert_eq!(seen.len(), 56, "no rule twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), everything);

    // A smaller PageSize from the caller wins over the proxy's page size; a larger one does not.
    set_rules(&proxy, "page=10");
    let sizes = |args: &[&str]| -> Vec<usize> {
        let pages: Vec<Vec<String>> = serde_json::from_value(moto.fixture(args)).unwrap();
        pages.iter().map(Vec::len).collect()
    };
    let endpoint = via(&proxy);
    assert_eq!(sizes(&["pages", "rules", &t.listener, &endpoint]), [vec![10; 5], vec![6]].concat());
    assert_eq!(sizes(&["pages", "rules", &t.listener, "page_size=3", &endpoint]), [vec![3; 18], vec![2]].concat());
    assert_eq!(sizes(&["pages", "rules", &t.listener, "page_size=50", &endpoint]), [vec![10; 5], vec![6]].concat());

    // DescribeListeners by load balancer pages too.
    set_rules(&proxy, "page=2");
    moto.fixture(&["listener", &t.lb, "81", &t.tgs[0]]);
    moto.fixture(&["listener", &t.lb, "82", &t.tgs[0]]);
    assert_eq!(sizes(&["pages", "listeners", &t.lb, &endpoint]), vec![2, 1]);
    assert_eq!(sizes(&["pages", "listeners", &t.lb]), vec![3], "moto alone does not page listeners");

    // A marker is the proxy's own: one from another listener is refused.
    let other = topology(&moto, &["weights=50,50", "rule=1"]);
    let first = rt.block_on(elb.describe_rules().listener_arn(&t.listener).send()).expect("first page");
    let marker = first.next_marker().expect("a next marker").to_string();
    let err = rt
        .block_on(elb.describe_rules().listener_arn(&other.listener).marker(marker).send())
        .expect_err("a marker of another listener");
    assert_eq!(failure(err).1, "ValidationError");
}

#[test]
fn a_delay_rule_delays_its_action_and_no_other() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "DescribeListeners=delay:3");
    let t = topology(&moto, &[]);
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    let timed = |f: &dyn Fn() -> bool| {
        let start = Instant::now();
        assert!(f());
        start.elapsed()
    };
    let slow = timed(&|| rt.block_on(elb.describe_listeners().listener_arns(&t.listener).send()).is_ok());
    let fast = timed(&|| rt.block_on(elb.describe_rules().listener_arn(&t.listener).send()).is_ok());
    assert!(slow >= Duration::from_secs(3), "delayed call took {slow:?}");
    assert!(fast < Duration::from_secs(3), "undelayed call took {fast:?}");
    assert_eq!(proxy.calls("DescribeListeners"), 1);
    // Delays combine with the other modes.
    set_rules(&proxy, "DescribeListeners=delay:0.5+throttle:1");
    let start = Instant::now();
    let err = rt.block_on(elb.describe_listeners().listener_arns(&t.listener).send()).expect_err("throttled");
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(failure(err).1, "Throttling");
}

#[test]
fn rules_posted_at_runtime_switch_behaviour_mid_test() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "");
    let t = topology(&moto, &["weights=50,50"]);
    let loose = tg_of(&moto, &[&format!("vpc={}", t.vpc)]);
    moto.fixture(&["register", &loose, "1"]);
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    #[allow(clippy::result_large_err)] // the SDK's own error type, inspected below
    let modify = || {
        rt.block_on(
            elb.modify_listener()
                .listener_arn(&t.listener)
                .default_actions(forward(&[(&t.tgs[0], 3), (&t.tgs[1], 4)]))
                .send(),
        )
    };

    assert_eq!(http(&proxy, "GET", "/__rules", "").1.parse::<Json>().unwrap()["realism"], "on");
    assert_eq!(health(&moto, Some(&proxy), &loose), all("unused", Some("Target.NotInUse"), 1));
    modify().expect("a write before any fault");

    // Realism off: moto's own answers.
    assert_eq!(set_rules(&proxy, "realism=off")["realism"], "off");
    assert_eq!(health(&moto, Some(&proxy), &loose), all("healthy", None, 1));

    // Faults switched on mid-test; throttle:N counts from the switch, not from the start.
    set_rules(&proxy, "ModifyListener=throttle:1");
    assert_eq!(failure(modify().expect_err("throttled")).1, "Throttling");
    modify().expect("the second call passes");
    set_rules(&proxy, "ModifyListener=fail");
    let (status, code, msg, _) = failure(modify().expect_err("outage"));
    assert_eq!((status, code.as_str(), msg.as_str()), (503, "ServiceUnavailable", "injected outage"));
    assert_eq!(proxy.calls("ModifyListener"), 4, "GET /__faults still counts every call");

    // Nonsense is refused and leaves the rules as they were.
    let (status, body) = http(&proxy, "POST", "/__rules", "ModifyListener=sometimes");
    assert_eq!(status, 400, "{body}");
    assert!(modify().is_err(), "still failing");

    // Back to the defaults.
    let rules = set_rules(&proxy, "");
    assert_eq!(
        (rules["realism"].as_str(), rules["page"].as_str(), rules["max_rules"].as_str()),
        (Some("on"), Some("2"), Some("100"))
    );
    modify().expect("faults cleared");
    assert_eq!(health(&moto, Some(&proxy), &loose), all("unused", Some("Target.NotInUse"), 1));
}

#[test]
fn describe_calls_shortly_after_a_modify_may_show_the_previous_state() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto, "stale=8");
    let t = topology(&moto, &["weights=50,50", "rule=1"]);
    let elb = sdk(&proxy.endpoint);
    let rt = runtime();
    let listener_weights = || -> Vec<i32> {
        let out = rt.block_on(elb.describe_listeners().listener_arns(&t.listener).send()).expect("describe listener");
        let fwd = out.listeners()[0].default_actions()[0].forward_config().unwrap().clone();
        fwd.target_groups().iter().map(|g| g.weight().unwrap()).collect()
    };
    // Read a page at a time, so that a page holding a lagging rule gets sliced too.
    let default_rule_weights = || -> Vec<i32> {
        let rules = rt.block_on(async {
            let mut pages = elb.describe_rules().listener_arn(&t.listener).page_size(1).into_paginator().send();
            let mut rules = Vec::new();
            while let Some(page) = pages.next().await {
                rules.extend(page.expect("a page of rules").rules().to_vec());
            }
            rules
        });
        assert_eq!(rules.len(), 2, "the topology's rule and the default rule");
        let default = rules.iter().find(|r| r.is_default() == Some(true)).unwrap().clone();
        default.actions()[0].forward_config().unwrap().target_groups().iter().map(|g| g.weight().unwrap()).collect()
    };
    let written = Instant::now();
    let out = rt
        .block_on(
            elb.modify_listener()
                .listener_arn(&t.listener)
                .default_actions(forward(&[(&t.tgs[0], 7), (&t.tgs[1], 3)]))
                .send(),
        )
        .expect("modify");
    // The proxy starts the lag window after moto's answer, before its own: by now at the latest.
    let answered_at = Instant::now();
    let answered: Vec<i32> = out.listeners()[0].default_actions()[0]
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|g| g.weight().unwrap())
        .collect();
    assert_eq!(answered, vec![7, 3], "the Modify's own answer is current");
    assert_eq!(weights(&moto, &t.listener), vec![(t.tgs[0].clone(), 7), (t.tgs[1].clone(), 3)], "moto holds the write");
    let (early, early_rule) = (listener_weights(), default_rule_weights());
    // The window opened after `written`: reads finished within 8 s of it were inside it.
    assert!(written.elapsed() < Duration::from_secs(8), "the reads were not quick enough to test anything");
    assert_eq!((early, early_rule), (vec![50, 50], vec![50, 50]), "reads right after the write lag behind");
    std::thread::sleep(Duration::from_secs(8).saturating_sub(answered_at.elapsed()) + Duration::from_millis(200));
    assert_eq!((listener_weights(), default_rule_weights()), (vec![7, 3], vec![7, 3]));
}
