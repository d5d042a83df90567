//! The shared AWS client code against moto, in-process: refresh reads of listeners coalesced
//! into shared DescribeListeners calls, and reused by later reads until the process writes.

mod support;

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};
use shard_provider::clients::attempts::AttemptLog;
use shard_provider::clients::elbv2;
use shard_provider::clients::forward::ActionOwner;
use shard_provider::clients::listener_reads::ListenerReads;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_listener_reads_share_one_call_and_a_missing_listener_does_not_spoil_the_batch() {
    let moto = support::Moto::start();
    let listeners = listeners(&moto, 4);
    let aws = moto.aws_clients();
    let reads = ListenerReads::default();
    // The client is built before the reads (a provider process builds it at its first call): its
    // first build wakes the waiting reads one by one, which on a busy machine can spread them past
    // the batch's 3 ms window; what is measured here is the reads' coalescing.
    aws.elbv2().await.expect("client");
    // Twenty refreshes at once, five per listener (what Terraform does for 20 shard_weight).
    let answers = futures::future::join_all((0..20).map(|i| {
        let (reads, aws, arn) = (&reads, &aws, listeners[i % 4].clone());
        async move { (arn.clone(), reads.default_actions(aws, &arn).await) }
    }))
    .await;
    assert_eq!(reads.calls(), 1, "twenty reads of four listeners are one DescribeListeners");
    for (arn, answer) in &answers {
        let actions = answer.as_ref().expect("read").as_ref().expect("listener exists");
        let i = listeners.iter().position(|l| l == arn).unwrap() as i32;
        assert_eq!(first_weight(actions), i + 1, "each reader gets its own listener's actions");
    }

    // The next wave of reads (Terraform refreshes ten at a time) is served by the first call.
    let again = reads.default_actions(&aws, &listeners[2]).await.expect("read").expect("listener exists");
    assert_eq!(first_weight(&again), 3);
    assert_eq!(reads.calls(), 1, "a read after the batch reuses its answer");

    // A write of this process: the next read asks ELBv2 again, and sees the write.
    let tgs = again[0].forward_config().unwrap().target_groups();
    let changed: Vec<TargetGroupTuple> = tgs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let weight = if i == 0 { 9 } else { t.weight().unwrap_or(1) };
            TargetGroupTuple::builder().target_group_arn(t.target_group_arn().unwrap()).weight(weight).build()
        })
        .collect();
    let forward = ForwardActionConfig::builder().set_target_groups(Some(changed)).build();
    let action = Action::builder().r#type(ActionTypeEnum::Forward).forward_config(forward).build();
    let owner = ActionOwner::Listener(listeners[2].clone());
    elbv2::write_actions(&aws, &owner, vec![action], &AttemptLog::default()).await.expect("write");
    let after = reads.default_actions(&aws, &listeners[2]).await.expect("read").expect("listener exists");
    assert_eq!(first_weight(&after), 9, "a process reads its own writes");
    assert_eq!(reads.calls(), 2, "the write made the earlier answer unusable");

    // A listener that does not exist (deleted meanwhile) is None; the others still answer. (New
    // reads, so both go to ELBv2 in one batch.)
    let reads = ListenerReads::default();
    let gone = listeners[0].replace(&listeners[0][listeners[0].len() - 6..], "abcdef");
    let (a, b) = tokio::join!(reads.default_actions(&aws, &gone), reads.default_actions(&aws, &listeners[1]));
    assert!(a.expect("no error").is_none());
    assert!(b.expect("no error").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_listener_being_read_joins_that_call_and_another_listener_does_not_wait_for_it() {
    let moto = support::Moto::start();
    let listeners = listeners(&moto, 2);
    // The first DescribeListeners is held 3 s in the proxy (its delay is the rule at its arrival);
    // the calls after it are not delayed.
    let proxy = support::FaultProxy::start(&moto, "DescribeListeners=delay:3");
    let aws = moto.aws_clients_via(&proxy.endpoint);
    let reads = ListenerReads::default();
    // Readers in the order they were answered.
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let read = |arn: String| {
        let (reads, aws, answered) = (&reads, &aws, &answered);
        async move {
            let actions = reads.default_actions(aws, &arn).await;
            (actions, answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        }
    };
    let ((first, first_n), ((other, other_n), (same, same_n))) = tokio::join!(read(listeners[0].clone()), async {
        while proxy.calls("DescribeListeners") == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        proxy.set_rules("DescribeListeners=delay:0");
        // While the first read's call is held: a read of another listener, then one of the same.
        let other = read(listeners[1].clone()).await;
        (other, read(listeners[0].clone()).await)
    });
    let weight = |a: &Result<Option<Vec<Action>>, _>| first_weight(a.as_ref().expect("read").as_ref().expect("exists"));
    assert_eq!((weight(&first), weight(&same), weight(&other)), (1, 1, 2), "each reader gets its own listener");
    // The other listener's undelayed call went out beside the held one, not after its return.
    assert_eq!(other_n, 0, "the second listener waited for the first listener's call");
    // The late read of the first listener joined the held call (a call of its own would be a third).
    assert_eq!(proxy.calls("DescribeListeners"), 2, "the late read of the first listener made a call of its own");
    assert_eq!(reads.calls(), 2);
    assert_eq!((first_n.min(same_n), first_n.max(same_n)), (1, 2), "the late read was answered with the held call");
}

/// `n` listeners, each forwarding to two target groups, the first of listener i at weight i + 1.
fn listeners(moto: &support::Moto, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| moto.fixture(&["topology", &format!("weights={},1", i + 1)])["listener"].as_str().unwrap().to_string())
        .collect()
}

fn first_weight(actions: &[Action]) -> i32 {
    actions[0].forward_config().unwrap().target_groups()[0].weight().unwrap()
}
