use super::*;
use alloc::vec;
use event_type::*;

const F: Option<u64> = Some(0xf000);
const G: Guid = Guid::from_bytes([5; 16]);

fn fns(ns: &[Notification]) -> Vec<u64> {
    ns.iter().map(|n| n.function).collect()
}

#[test]
fn group_guid_bytes() {
    assert_eq!(EVENT_GROUP_EXIT_BOOT_SERVICES.to_bytes()[..4], [0x55, 0xf0, 0xab, 0x27]);
    assert_eq!(
        EVENT_GROUP_READY_TO_BOOT.to_bytes()[8..],
        [0x87, 0xa8, 0xa8, 0xd8, 0xde, 0xe5, 0x0d, 0x2b]
    );
}

#[test]
fn create_event_validation() {
    let mut ev = Events::new();
    let bad = Err(Error::InvalidParameter);
    assert_eq!(ev.create_event(NOTIFY_WAIT | NOTIFY_SIGNAL, tpl::CALLBACK, F, 0, None), bad);
    assert_eq!(ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, None, 0, None), bad);
    assert_eq!(ev.create_event(NOTIFY_WAIT, tpl::CALLBACK, Some(0), 0, None), bad);
    assert_eq!(ev.create_event(NOTIFY_SIGNAL, tpl::APPLICATION, F, 0, None), bad);
    assert_eq!(ev.create_event(NOTIFY_SIGNAL, tpl::HIGH_LEVEL + 1, F, 0, None), bad);
    assert_eq!(ev.create_event(0x0000_1000, tpl::CALLBACK, F, 0, None), bad, "undefined bit");
    assert_eq!(ev.create_event(0x0000_0001, tpl::CALLBACK, F, 0, None), bad, "bare low bit");
    assert_eq!(
        ev.create_event(TIMER | SIGNAL_EXIT_BOOT_SERVICES, tpl::CALLBACK, F, 0, None),
        bad,
        "signal types are exact values"
    );
    assert_eq!(
        ev.create_event(SIGNAL_EXIT_BOOT_SERVICES, tpl::CALLBACK, F, 0, Some(G)),
        bad,
        "EBS type with an explicit group"
    );
    assert_eq!(
        ev.create_event(SIGNAL_EXIT_BOOT_SERVICES, tpl::CALLBACK, None, 0, None),
        bad,
        "EBS events notify, so they need a function"
    );
    // Valid ones.
    ev.create_event(NOTIFY_SIGNAL, tpl::HIGH_LEVEL, F, 0, None).unwrap();
    ev.create_event(TIMER | NOTIFY_WAIT, tpl::NOTIFY, F, 0, None).unwrap();
    ev.create_event(TIMER | RUNTIME, 0, None, 0, None).unwrap();
    // Without a notify type, TPL and function are ignored.
    let plain = ev.create_event(0, 0, None, 0, None).unwrap();
    ev.create_event(SIGNAL_VIRTUAL_ADDRESS_CHANGE, tpl::NOTIFY, F, 0, None).unwrap();
    ev.close_event(plain).unwrap();
    assert_eq!(ev.close_event(plain), Err(Error::InvalidParameter));
    let again = ev.create_event(0, 0, None, 0, None).unwrap();
    assert_ne!(again, plain, "ids are not reused");
}

#[test]
fn notify_signal_queues_once_and_dispatch_clears() {
    let mut ev = Events::new();
    let e = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, F, 0x77, None).unwrap();
    ev.signal_event(e).unwrap();
    ev.signal_event(e).unwrap();
    assert!(ev.is_signaled(e));
    let due = ev.take_due_notifications(tpl::APPLICATION);
    assert_eq!(due, vec![Notification { event: e, function: 0xf000, context: 0x77, tpl: 8 }]);
    assert!(!ev.is_signaled(e), "NOTIFY_SIGNAL events are cleared by dispatch");
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty());
    // Signaling again queues again.
    ev.signal_event(e).unwrap();
    assert_eq!(ev.take_due_notifications(tpl::APPLICATION).len(), 1);
    // CheckEvent on a NOTIFY_SIGNAL event is invalid.
    assert_eq!(ev.check_event(e), Err(Error::InvalidParameter));
}

#[test]
fn notifications_wait_for_lower_tpl() {
    let mut ev = Events::new();
    let cb = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(1), 0, None).unwrap();
    let nt = ev.create_event(NOTIFY_SIGNAL, tpl::NOTIFY, Some(2), 0, None).unwrap();
    let cb2 = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(3), 0, None).unwrap();
    assert_eq!(ev.raise_tpl(tpl::NOTIFY), tpl::APPLICATION);
    ev.signal_event(cb).unwrap();
    ev.signal_event(nt).unwrap();
    ev.signal_event(cb2).unwrap();
    assert!(ev.take_due_notifications(ev.current_tpl()).is_empty(), "nothing above NOTIFY");
    // Going to CALLBACK makes only the NOTIFY one due.
    assert_eq!(fns(&ev.restore_tpl(tpl::CALLBACK)), vec![2]);
    assert_eq!(ev.current_tpl(), tpl::CALLBACK);
    // Going to APPLICATION: the rest, in signal order.
    assert_eq!(fns(&ev.restore_tpl(tpl::APPLICATION)), vec![1, 3]);
}

#[test]
fn highest_tpl_first() {
    let mut ev = Events::new();
    let a = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(1), 0, None).unwrap();
    let b = ev.create_event(NOTIFY_SIGNAL, tpl::HIGH_LEVEL, Some(2), 0, None).unwrap();
    let c = ev.create_event(NOTIFY_SIGNAL, tpl::NOTIFY, Some(3), 0, None).unwrap();
    ev.raise_tpl(tpl::HIGH_LEVEL);
    for e in [a, b, c] {
        ev.signal_event(e).unwrap();
    }
    assert_eq!(fns(&ev.restore_tpl(tpl::APPLICATION)), vec![2, 3, 1]);
    assert_eq!(ev.current_tpl(), tpl::APPLICATION);
}

#[test]
fn pop_one_at_a_time_sees_new_signals() {
    let mut ev = Events::new();
    let a = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(1), 0, None).unwrap();
    let b = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(2), 0, None).unwrap();
    let hi = ev.create_event(NOTIFY_SIGNAL, tpl::NOTIFY, Some(3), 0, None).unwrap();
    ev.signal_event(a).unwrap();
    ev.signal_event(b).unwrap();
    assert_eq!(ev.pop_due_notification(tpl::APPLICATION).map(|n| n.function), Some(1));
    // The notification of `a` signals `hi`: it runs before `b`.
    ev.signal_event(hi).unwrap();
    assert_eq!(ev.pop_due_notification(tpl::APPLICATION).map(|n| n.function), Some(3));
    assert_eq!(ev.pop_due_notification(tpl::APPLICATION).map(|n| n.function), Some(2));
    assert_eq!(ev.pop_due_notification(tpl::APPLICATION), None);
}

#[test]
fn tpl_rules() {
    let mut ev = Events::new();
    assert_eq!(ev.current_tpl(), tpl::APPLICATION);
    assert_eq!(ev.raise_tpl(tpl::NOTIFY), tpl::APPLICATION);
    assert_eq!(ev.raise_tpl(tpl::CALLBACK), tpl::NOTIFY, "raise never lowers");
    assert_eq!(ev.current_tpl(), tpl::NOTIFY);
    assert_eq!(ev.raise_tpl(100), tpl::NOTIFY);
    assert_eq!(ev.current_tpl(), tpl::HIGH_LEVEL);
    ev.restore_tpl(tpl::CALLBACK);
    ev.restore_tpl(tpl::NOTIFY);
    assert_eq!(ev.current_tpl(), tpl::CALLBACK, "restore never raises");
}

#[test]
fn groups_signal_all_members() {
    let mut ev = Events::new();
    let a = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(1), 0, Some(G)).unwrap();
    let b = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(2), 0, Some(G)).unwrap();
    let plain = ev.create_event(0, 0, None, 0, Some(G)).unwrap();
    let other = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(3), 0, None).unwrap();
    ev.signal_event(b).unwrap();
    assert!(ev.is_signaled(a) && ev.is_signaled(b) && ev.is_signaled(plain));
    assert!(!ev.is_signaled(other));
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![1, 2]);
    // A closed member leaves the group.
    ev.close_event(a).unwrap();
    ev.signal_group(&G);
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![2]);
    assert_eq!(ev.take_signal(plain), Ok(()));
}

#[test]
fn exit_boot_services_type_joins_group() {
    let mut ev = Events::new();
    let legacy = ev.create_event(SIGNAL_EXIT_BOOT_SERVICES, tpl::NOTIFY, Some(1), 0, None).unwrap();
    let ex = ev
        .create_event(
            NOTIFY_SIGNAL,
            tpl::CALLBACK,
            Some(2),
            0,
            Some(EVENT_GROUP_EXIT_BOOT_SERVICES),
        )
        .unwrap();
    let vac =
        ev.create_event(SIGNAL_VIRTUAL_ADDRESS_CHANGE, tpl::NOTIFY, Some(3), 0, None).unwrap();
    ev.signal_group(&EVENT_GROUP_EXIT_BOOT_SERVICES);
    assert!(ev.is_signaled(legacy) && ev.is_signaled(ex) && !ev.is_signaled(vac));
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![1, 2]);
    ev.signal_event(vac).unwrap();
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![3]);
}

#[test]
fn check_event_rules() {
    let mut ev = Events::new();
    let w = ev.create_event(NOTIFY_WAIT, tpl::CALLBACK, Some(1), 5, None).unwrap();
    let plain = ev.create_event(0, 0, None, 0, None).unwrap();
    // Not signaled: the wait notification is queued once.
    assert_eq!(ev.check_event(w), Err(Error::NotReady));
    assert_eq!(ev.check_event(w), Err(Error::NotReady));
    let due = ev.take_due_notifications(tpl::APPLICATION);
    assert_eq!(due, vec![Notification { event: w, function: 1, context: 5, tpl: 8 }]);
    // Suppose the notification signaled the event: the shim's second look.
    ev.signal_event(w).unwrap();
    assert!(ev.is_signaled(w), "NOTIFY_WAIT events stay signaled until checked");
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty(), "signal queues nothing");
    assert_eq!(ev.take_signal(w), Ok(()));
    assert_eq!(ev.take_signal(w), Err(Error::NotReady), "SUCCESS cleared the signal");
    // Signaled: success without queuing.
    ev.signal_event(w).unwrap();
    assert_eq!(ev.check_event(w), Ok(()));
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty());
    // A plain event queues nothing.
    assert_eq!(ev.check_event(plain), Err(Error::NotReady));
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty());
    ev.signal_event(plain).unwrap();
    assert_eq!(ev.check_event(plain), Ok(()));
    ev.close_event(plain).unwrap();
    assert_eq!(ev.check_event(plain), Err(Error::InvalidParameter));
}

#[test]
fn poll_wait_rules() {
    let mut ev = Events::new();
    let a = ev.create_event(0, 0, None, 0, None).unwrap();
    let b = ev.create_event(NOTIFY_WAIT, tpl::CALLBACK, Some(2), 0, None).unwrap();
    let s = ev.create_event(NOTIFY_SIGNAL, tpl::CALLBACK, Some(3), 0, None).unwrap();
    assert_eq!(ev.poll_wait(&[]), Err(Error::InvalidParameter));
    assert_eq!(ev.poll_wait(&[a, s]), Err(Error::InvalidParameter));
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty(), "nothing queued on error");
    assert_eq!(ev.poll_wait(&[a, b]), Ok(None));
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![2]);
    ev.signal_event(b).unwrap();
    ev.signal_event(a).unwrap();
    assert_eq!(ev.poll_wait(&[b, a]), Ok(Some(0)), "first signaled in order");
    assert!(!ev.is_signaled(b) && ev.is_signaled(a));
    assert_eq!(ev.poll_wait(&[b, a]), Ok(Some(1)));
    ev.raise_tpl(tpl::CALLBACK);
    assert_eq!(ev.poll_wait(&[a]), Err(Error::Unsupported));
}

#[test]
fn timers() {
    let mut ev = Events::new();
    let t = ev.create_event(TIMER, 0, None, 0, None).unwrap();
    let not_timer = ev.create_event(0, 0, None, 0, None).unwrap();
    assert_eq!(ev.set_timer(not_timer, TimerDelay::Relative, 10), Err(Error::InvalidParameter));
    ev.tick(100);
    ev.set_timer(t, TimerDelay::Relative, 50).unwrap();
    assert_eq!(ev.tick(149), 0);
    assert_eq!(ev.tick(150), 1);
    assert_eq!(ev.take_signal(t), Ok(()));
    assert_eq!(ev.tick(1000), 0, "relative timers fire once");
    // Cancel.
    ev.set_timer(t, TimerDelay::Relative, 10).unwrap();
    ev.set_timer(t, TimerDelay::Cancel, 0).unwrap();
    assert_eq!(ev.tick(2000), 0);
    // A new setting replaces the old one.
    ev.set_timer(t, TimerDelay::Relative, 10).unwrap();
    ev.set_timer(t, TimerDelay::Relative, 500).unwrap();
    assert_eq!(ev.tick(2100), 0);
    assert_eq!(ev.tick(2500), 1);
    // Time does not go backwards.
    assert_eq!(ev.tick(5), 0);
    assert_eq!(ev.now(), 2500);
}

#[test]
fn periodic_timers_with_notify() {
    let mut ev = Events::new();
    let t = ev.create_event(TIMER | NOTIFY_SIGNAL, tpl::CALLBACK, Some(9), 0, None).unwrap();
    ev.set_timer(t, TimerDelay::Periodic, 100).unwrap();
    assert_eq!(ev.tick(99), 0);
    assert_eq!(ev.tick(100), 1);
    assert_eq!(fns(&ev.take_due_notifications(tpl::APPLICATION)), vec![9]);
    assert_eq!(ev.tick(150), 0);
    assert_eq!(ev.tick(200), 1);
    assert_eq!(ev.take_due_notifications(tpl::APPLICATION).len(), 1);
    // Fell behind: one signal, then one period from now.
    assert_eq!(ev.tick(1000), 1);
    assert_eq!(ev.tick(1099), 0);
    assert_eq!(ev.tick(1100), 1);
    // Closing drops the timer and the queued notification.
    ev.close_event(t).unwrap();
    assert!(ev.take_due_notifications(tpl::APPLICATION).is_empty());
    assert_eq!(ev.tick(5000), 0);
}

#[test]
fn zero_trigger_times() {
    let mut ev = Events::new();
    let once = ev.create_event(TIMER, 0, None, 0, None).unwrap();
    let every = ev.create_event(TIMER, 0, None, 0, None).unwrap();
    ev.set_timer(once, TimerDelay::Relative, 0).unwrap();
    ev.set_timer(every, TimerDelay::Periodic, 0).unwrap();
    assert_eq!(ev.tick(1), 2);
    assert_eq!(ev.tick(2), 1, "periodic 0 fires on every tick");
    assert_eq!(ev.tick(3), 1);
    assert!(ev.is_signaled(once));
}
