//! Running the event machinery of `vmfw-efi`: advancing timers, feeding
//! console input to `WaitForKey`, the watchdog, and calling notification
//! functions (UEFI §7.1). Guest code is only ever called from
//! [`dispatch`], with no lock held.

use super::state::BOOT;
use crate::time;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use uefi_raw::table::boot::EventNotifyFn;
use vmfw_efi::events::Notification;
use vmfw_efi::EventId;

/// Now, in the 100 ns units of `SetTimer()`.
pub fn now_100ns() -> u64 {
    time::now_ns() / 100
}

/// Advances timers, feeds console input to `WaitForKey`, checks the
/// watchdog and runs due notifications.
pub fn poll() {
    let now = now_100ns();
    let wd = BOOT.with(|b| {
        b.events.tick(now);
        b.watchdog
    });
    if wd.is_some_and(time::passed) {
        crate::error!("UEFI watchdog timer expired; resetting");
        crate::power::reset();
    }
    super::console::poll_input();
    dispatch(Vec::new());
}

/// Runs `first`, then every notification that becomes due, each at its
/// TPL, with no lock held while guest code runs.
pub fn dispatch(first: Vec<Notification>) {
    let mut pending: VecDeque<Notification> = first.into();
    loop {
        let next = match pending.pop_front() {
            Some(n) => Some(n),
            None => BOOT.with(|b| {
                let tpl = b.events.current_tpl();
                b.events.pop_due_notification(tpl)
            }),
        };
        let Some(n) = next else { break };
        let old = BOOT.with(|b| b.events.raise_tpl(n.tpl));
        call_notify(n.function, n.event.0.get() as u64, n.context);
        let more = BOOT.with(|b| b.events.restore_tpl(old));
        pending.extend(more);
    }
}

/// Calls a notification function a caller registered with
/// `CreateEvent()` (or one kept for `SetVirtualAddressMap()`).
pub fn call_notify(function: u64, event: u64, context: u64) {
    if function == 0 {
        return;
    }
    // SAFETY: `function` is the address a caller registered as its
    // EFI_EVENT_NOTIFY (vmfw-efi keeps it unchanged); the UEFI ABI makes
    // it a function with this signature (UEFI §7.1).
    unsafe {
        let f: EventNotifyFn = core::mem::transmute::<usize, EventNotifyFn>(function as usize);
        f(event as *mut core::ffi::c_void, context as *mut core::ffi::c_void);
    }
}

/// Signals the events `RegisterProtocolNotify()` queued.
pub fn signal_protocol_notifies() {
    BOOT.with(|b| {
        for e in b.db.take_signals() {
            if let Some(id) = NonZeroUsize::new(e as usize) {
                let _ = b.events.signal_event(EventId(id));
            }
        }
    });
    dispatch(Vec::new());
}

/// Signals an event group (UEFI §7.1) and runs its notifications.
pub fn signal_group(g: &vmfw_efi::Guid) {
    BOOT.with(|b| b.events.signal_group(g));
    dispatch(Vec::new());
}

/// Busy-waits `us` microseconds.
pub fn spin_us(us: u64) {
    let end = time::deadline_us(us);
    while !time::passed(end) {
        core::hint::spin_loop();
    }
}

/// Arms the watchdog: `seconds` from now (0 disarms it).
pub fn set_watchdog(seconds: u64) {
    let deadline = (seconds != 0).then(|| time::deadline_us(seconds.saturating_mul(1_000_000)));
    BOOT.with(|b| b.watchdog = deadline);
}
