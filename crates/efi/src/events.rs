//! Events, timers and task priority levels (UEFI §7.1, "Event, Timer, and
//! Task Priority Services").
//!
//! This table holds the state; it never calls anything. Where UEFI runs a
//! notification function, the table queues a [`Notification`] and the
//! firmware's shim takes it ([`Events::pop_due_notification`],
//! [`Events::take_due_notifications`], [`Events::restore_tpl`]) and calls
//! it with the TPL raised to the notification's level.
//!
//! Rules implemented:
//! - `CreateEvent()`/`CreateEventEx()`: a type bit outside the ones §7.1
//!   defines (the two `EVT_SIGNAL_*` types only as their exact values),
//!   `EVT_NOTIFY_WAIT` together with `EVT_NOTIFY_SIGNAL`, a notify
//!   type without a notify function, or a notify type whose `NotifyTpl` is
//!   not an event notification level (`TPL_APPLICATION < tpl <=
//!   TPL_HIGH_LEVEL`, §7.1 table "TPL Restrictions") is
//!   `EFI_INVALID_PARAMETER`. Without a notify type, `NotifyTpl`, the
//!   function and the context are ignored. `EVT_SIGNAL_EXIT_BOOT_SERVICES`
//!   and `EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE` put the event into the
//!   corresponding event group and cannot be combined with an explicit
//!   group (`CreateEventEx()`: `EFI_INVALID_PARAMETER`).
//! - `SignalEvent()`: an event already signaled stays as it is; otherwise
//!   it becomes signaled and, for `EVT_NOTIFY_SIGNAL`, its notification is
//!   queued. Signaling a member of an event group signals every member
//!   (`CreateEventEx()`). A `EVT_NOTIFY_SIGNAL` event returns to the
//!   not-signaled state when its notification is taken for dispatch.
//! - `CheckEvent()`: `EVT_NOTIFY_SIGNAL` events are
//!   `EFI_INVALID_PARAMETER`; a signaled event is cleared and succeeds;
//!   otherwise an `EVT_NOTIFY_WAIT` event's notification is queued (once)
//!   and the answer is `EFI_NOT_READY` (see [`Events::check_event`] for the
//!   shim's part).
//! - `WaitForEvent()`: as [`Events::poll_wait`], non-blocking: no events or
//!   an `EVT_NOTIFY_SIGNAL` event is `EFI_INVALID_PARAMETER`; a TPL other
//!   than `TPL_APPLICATION` is `EFI_UNSUPPORTED`; the events are checked in
//!   order as `CheckEvent()` does and the first signaled one wins.
//! - `SetTimer()`: only `EVT_TIMER` events (`EFI_INVALID_PARAMETER`);
//!   `TimerCancel` stops the timer, `TimerRelative` fires once after the
//!   trigger time, `TimerPeriodic` every trigger time; a new setting
//!   replaces the old one; a trigger time of 0 fires at the next tick
//!   (periodic: every tick). Times are in 100 ns units, measured by
//!   [`Events::tick`].
//! - `RaiseTPL()`/`RestoreTPL()`: the TPL only goes up with raise and down
//!   with restore; lowering it makes every queued notification whose
//!   level is above the new TPL due, highest level first, in signal order
//!   within a level.
//! - `CloseEvent()`: the event leaves its group, its timer and any queued
//!   notification are dropped; an unknown event is
//!   `EFI_INVALID_PARAMETER`.

use crate::vecmap::VecMap;
use crate::{Error, Guid, Result};
use alloc::vec::Vec;
use core::num::NonZeroUsize;

/// An `EFI_EVENT`: opaque, non-zero, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub NonZeroUsize);

/// An `EFI_TPL` (`UINTN`).
pub type Tpl = usize;

/// Task priority levels (UEFI §7.1, `RaiseTPL()`).
pub mod tpl {
    use super::Tpl;
    /// `TPL_APPLICATION`: normal execution.
    pub const APPLICATION: Tpl = 4;
    /// `TPL_CALLBACK`: most notifications.
    pub const CALLBACK: Tpl = 8;
    /// `TPL_NOTIFY`: I/O and timer-critical notifications.
    pub const NOTIFY: Tpl = 16;
    /// `TPL_HIGH_LEVEL`: interrupts masked.
    pub const HIGH_LEVEL: Tpl = 31;
}

/// Event type bits (UEFI §7.1, `CreateEvent()`).
pub mod event_type {
    /// `EVT_TIMER`.
    pub const TIMER: u32 = 0x8000_0000;
    /// `EVT_RUNTIME`: the event is needed at runtime.
    pub const RUNTIME: u32 = 0x4000_0000;
    /// `EVT_NOTIFY_WAIT`: notify while someone waits for the event.
    pub const NOTIFY_WAIT: u32 = 0x0000_0100;
    /// `EVT_NOTIFY_SIGNAL`: notify when the event is signaled.
    pub const NOTIFY_SIGNAL: u32 = 0x0000_0200;
    /// `EVT_SIGNAL_EXIT_BOOT_SERVICES`.
    pub const SIGNAL_EXIT_BOOT_SERVICES: u32 = 0x0000_0201;
    /// `EVT_SIGNAL_VIRTUAL_ADDRESS_CHANGE`.
    pub const SIGNAL_VIRTUAL_ADDRESS_CHANGE: u32 = 0x6000_0202;
}

use event_type::{NOTIFY_SIGNAL, NOTIFY_WAIT, TIMER};

/// The type bits that combine freely; the two `EVT_SIGNAL_*` types are
/// valid only as the exact values §7.1 lists.
const COMBINABLE_TYPE_BITS: u32 = TIMER | event_type::RUNTIME | NOTIFY_WAIT | NOTIFY_SIGNAL;

/// `EFI_EVENT_GROUP_EXIT_BOOT_SERVICES` (UEFI §7.1, `CreateEventEx()`).
pub const EVENT_GROUP_EXIT_BOOT_SERVICES: Guid = Guid::from_fields(
    0x27ab_f055,
    0xb1b8,
    0x4c26,
    [0x80, 0x48, 0x74, 0x8f, 0x37, 0xba, 0xa2, 0xdf],
);
/// `EFI_EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE`.
pub const EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE: Guid = Guid::from_fields(
    0x13fa_7698,
    0xc831,
    0x49c7,
    [0x87, 0xea, 0x8f, 0x43, 0xfc, 0xc2, 0x51, 0x96],
);
/// `EFI_EVENT_GROUP_READY_TO_BOOT`.
pub const EVENT_GROUP_READY_TO_BOOT: Guid = Guid::from_fields(
    0x7ce8_8fb3,
    0x4bd7,
    0x4679,
    [0x87, 0xa8, 0xa8, 0xd8, 0xde, 0xe5, 0x0d, 0x2b],
);
/// `EFI_EVENT_GROUP_MEMORY_MAP_CHANGE`.
pub const EVENT_GROUP_MEMORY_MAP_CHANGE: Guid = Guid::from_fields(
    0x78be_e926,
    0x692f,
    0x48fd,
    [0x9e, 0xdb, 0x01, 0x42, 0x2e, 0xf0, 0xd7, 0xab],
);

/// `EFI_TIMER_DELAY` (UEFI §7.1, `SetTimer()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerDelay {
    /// `TimerCancel`.
    Cancel,
    /// `TimerPeriodic`.
    Periodic,
    /// `TimerRelative`.
    Relative,
}

/// A notification function to run: the shim calls
/// `function(event, context)` with the TPL raised to `tpl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// The event whose notification this is.
    pub event: EventId,
    /// `NotifyFunction`, an address.
    pub function: u64,
    /// `NotifyContext`, passed back unchanged.
    pub context: u64,
    /// `NotifyTpl`.
    pub tpl: Tpl,
}

#[derive(Debug, Clone, Copy)]
struct Timer {
    due: u64,
    /// `Some(period)` for periodic timers.
    period: Option<u64>,
}

#[derive(Debug)]
struct Event {
    kind: u32,
    notify_tpl: Tpl,
    function: u64,
    context: u64,
    group: Option<Guid>,
    signaled: bool,
    queued: bool,
    timer: Option<Timer>,
}

/// The event table. See the module docs for its rules.
#[derive(Debug)]
pub struct Events {
    events: VecMap<EventId, Event>,
    /// Events whose notification is queued, in signal order.
    queue: Vec<EventId>,
    tpl: Tpl,
    now: u64,
    next_id: usize,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// An empty table at `TPL_APPLICATION`, time 0.
    pub fn new() -> Self {
        Self { events: VecMap::new(), queue: Vec::new(), tpl: tpl::APPLICATION, now: 0, next_id: 0 }
    }

    fn get(&self, e: EventId) -> Result<&Event> {
        self.events.get(&e).ok_or(Error::InvalidParameter)
    }

    /// True when `e` is a live event.
    pub fn is_valid(&self, e: EventId) -> bool {
        self.events.contains_key(&e)
    }

    /// `CreateEvent()` / `CreateEventEx()`: a new event of `kind` (see
    /// [`event_type`]); `notify_fn` `None` or `Some(0)` is a NULL
    /// function.
    ///
    /// Errors: `InvalidParameter` as the module docs list;
    /// `OutOfResources` when ids run out.
    pub fn create_event(
        &mut self,
        kind: u32,
        notify_tpl: Tpl,
        notify_fn: Option<u64>,
        notify_ctx: u64,
        group: Option<Guid>,
    ) -> Result<EventId> {
        let signal_type = kind == event_type::SIGNAL_EXIT_BOOT_SERVICES
            || kind == event_type::SIGNAL_VIRTUAL_ADDRESS_CHANGE;
        if !signal_type && kind & !COMBINABLE_TYPE_BITS != 0 {
            return Err(Error::InvalidParameter);
        }
        let notify = kind & (NOTIFY_WAIT | NOTIFY_SIGNAL);
        if notify == NOTIFY_WAIT | NOTIFY_SIGNAL {
            return Err(Error::InvalidParameter);
        }
        let function = notify_fn.unwrap_or(0);
        if notify != 0
            && (function == 0 || notify_tpl <= tpl::APPLICATION || notify_tpl > tpl::HIGH_LEVEL)
        {
            return Err(Error::InvalidParameter);
        }
        let implied = match kind {
            event_type::SIGNAL_EXIT_BOOT_SERVICES => Some(EVENT_GROUP_EXIT_BOOT_SERVICES),
            event_type::SIGNAL_VIRTUAL_ADDRESS_CHANGE => Some(EVENT_GROUP_VIRTUAL_ADDRESS_CHANGE),
            _ => None,
        };
        let group = match (implied, group) {
            (Some(_), Some(_)) => return Err(Error::InvalidParameter),
            (i, g) => i.or(g),
        };
        self.next_id = self.next_id.checked_add(1).ok_or(Error::OutOfResources)?;
        let id = EventId(NonZeroUsize::new(self.next_id).ok_or(Error::OutOfResources)?);
        let (function, context, notify_tpl) =
            if notify != 0 { (function, notify_ctx, notify_tpl) } else { (0, 0, 0) };
        self.events.insert(
            id,
            Event {
                kind,
                notify_tpl,
                function,
                context,
                group,
                signaled: false,
                queued: false,
                timer: None,
            },
        );
        Ok(id)
    }

    /// `CloseEvent()`: removes `e`, its timer and its queued notification.
    /// `InvalidParameter` for an unknown event.
    pub fn close_event(&mut self, e: EventId) -> Result<()> {
        self.events.remove(&e).ok_or(Error::InvalidParameter)?;
        self.queue.retain(|q| *q != e);
        Ok(())
    }

    /// Signals one event, ignoring its group.
    fn signal_one(&mut self, e: EventId) {
        let Some(ev) = self.events.get_mut(&e) else { return };
        if ev.signaled {
            return;
        }
        ev.signaled = true;
        if ev.kind & NOTIFY_SIGNAL != 0 && !ev.queued {
            ev.queued = true;
            self.queue.push(e);
        }
    }

    /// `SignalEvent()`: signals `e`, or every member of its group.
    /// `InvalidParameter` for an unknown event.
    pub fn signal_event(&mut self, e: EventId) -> Result<()> {
        match self.get(e)?.group {
            Some(g) => self.signal_group(&g),
            None => self.signal_one(e),
        }
        Ok(())
    }

    /// Signals every event in group `g` (for the firmware: `ExitBootServices()`,
    /// ready-to-boot, memory map changes); a group without members is fine.
    pub fn signal_group(&mut self, g: &Guid) {
        let members: Vec<EventId> =
            self.events.iter().filter(|(_, ev)| ev.group == Some(*g)).map(|(id, _)| *id).collect();
        for id in members {
            self.signal_one(id);
        }
    }

    /// The notification functions of the members of group `g` that have
    /// one (for the firmware: the virtual-address-change events it keeps
    /// for runtime).
    pub fn group_notifications(&self, g: &Guid) -> Vec<Notification> {
        self.events
            .iter()
            .filter(|(_, ev)| ev.group == Some(*g) && ev.function != 0)
            .map(|(id, ev)| Notification {
                event: *id,
                function: ev.function,
                context: ev.context,
                tpl: ev.notify_tpl,
            })
            .collect()
    }

    /// True when `e` is signaled (false for unknown events).
    pub fn is_signaled(&self, e: EventId) -> bool {
        self.events.get(&e).is_some_and(|ev| ev.signaled)
    }

    /// The answer part of `CheckEvent()`: clears a signaled event and
    /// succeeds, else `NotReady`; queues nothing.
    /// `InvalidParameter` for unknown or `EVT_NOTIFY_SIGNAL` events.
    pub fn take_signal(&mut self, e: EventId) -> Result<()> {
        let ev = self.events.get_mut(&e).ok_or(Error::InvalidParameter)?;
        if ev.kind & NOTIFY_SIGNAL != 0 {
            return Err(Error::InvalidParameter);
        }
        if ev.signaled {
            ev.signaled = false;
            Ok(())
        } else {
            Err(Error::NotReady)
        }
    }

    /// `CheckEvent()`: as [`Events::take_signal`], but a not-signaled
    /// `EVT_NOTIFY_WAIT` event first gets its notification queued (once).
    ///
    /// The spec runs that notification before it looks at the signal
    /// again, so on `NotReady` the shim dispatches the due notifications
    /// and then answers with [`Events::take_signal`].
    pub fn check_event(&mut self, e: EventId) -> Result<()> {
        let ev = self.events.get_mut(&e).ok_or(Error::InvalidParameter)?;
        if ev.kind & NOTIFY_SIGNAL == 0 && !ev.signaled && ev.kind & NOTIFY_WAIT != 0 && !ev.queued
        {
            ev.queued = true;
            self.queue.push(e);
        }
        self.take_signal(e)
    }

    /// One round of `WaitForEvent()` at the current TPL: `Some(i)` when
    /// `events[i]` is the first signaled event (its signal is cleared),
    /// `None` when none is; the shim then dispatches due notifications,
    /// idles until the next interrupt and calls again.
    ///
    /// Errors: `InvalidParameter` for no events or an unknown or
    /// `EVT_NOTIFY_SIGNAL` event (nothing is queued then);
    /// `Unsupported` when the TPL is not `TPL_APPLICATION`.
    pub fn poll_wait(&mut self, events: &[EventId]) -> Result<Option<usize>> {
        if self.tpl != tpl::APPLICATION {
            return Err(Error::Unsupported);
        }
        if events.is_empty() {
            return Err(Error::InvalidParameter);
        }
        for e in events {
            if self.get(*e)?.kind & NOTIFY_SIGNAL != 0 {
                return Err(Error::InvalidParameter);
            }
        }
        for (i, e) in events.iter().enumerate() {
            match self.check_event(*e) {
                Ok(()) => return Ok(Some(i)),
                Err(Error::NotReady) => {}
                Err(x) => return Err(x),
            }
        }
        Ok(None)
    }

    /// `SetTimer()`: arms, re-arms or cancels the timer of `e`, relative to
    /// the time of the last [`Events::tick`]. `InvalidParameter` for an
    /// unknown or non-`EVT_TIMER` event.
    pub fn set_timer(&mut self, e: EventId, kind: TimerDelay, trigger_100ns: u64) -> Result<()> {
        let now = self.now;
        let ev = self.events.get_mut(&e).ok_or(Error::InvalidParameter)?;
        if ev.kind & TIMER == 0 {
            return Err(Error::InvalidParameter);
        }
        ev.timer = match kind {
            TimerDelay::Cancel => None,
            TimerDelay::Relative => {
                Some(Timer { due: now.saturating_add(trigger_100ns), period: None })
            }
            TimerDelay::Periodic => {
                Some(Timer { due: now.saturating_add(trigger_100ns), period: Some(trigger_100ns) })
            }
        };
        Ok(())
    }

    /// The time of the last [`Events::tick`], in 100 ns units.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Advances the clock to `now_100ns` (a smaller value is ignored) and
    /// signals every timer that is due: one-shot timers disarm, periodic
    /// ones re-arm one period after their due time, or one period from now
    /// when they fell behind. Returns how many timers fired.
    pub fn tick(&mut self, now_100ns: u64) -> usize {
        self.now = self.now.max(now_100ns);
        let now = self.now;
        let mut fired = Vec::new();
        for (id, ev) in self.events.iter_mut() {
            let Some(t) = ev.timer else { continue };
            if t.due > now {
                continue;
            }
            ev.timer = t.period.map(|p| {
                let next = t.due.saturating_add(p);
                let due = if next > now { next } else { now.saturating_add(p) };
                Timer { due: due.max(now.saturating_add(1)), period: Some(p) }
            });
            fired.push(*id);
        }
        for id in &fired {
            self.signal_one(*id);
        }
        fired.len()
    }

    /// The current TPL.
    pub fn current_tpl(&self) -> Tpl {
        self.tpl
    }

    /// `RaiseTPL()`: sets the TPL to `new` and returns the previous one.
    /// A `new` below the current TPL (a caller bug the spec leaves
    /// undefined) leaves the TPL unchanged; one above `TPL_HIGH_LEVEL` is
    /// taken as `TPL_HIGH_LEVEL`.
    pub fn raise_tpl(&mut self, new: Tpl) -> Tpl {
        let old = self.tpl;
        self.tpl = new.min(tpl::HIGH_LEVEL).max(old);
        old
    }

    /// `RestoreTPL()`: lowers the TPL to `old` (a value above the current
    /// TPL, a caller bug, leaves it unchanged) and returns the
    /// notifications now due, as [`Events::take_due_notifications`].
    ///
    /// The shim runs each one at its level: `raise_tpl(n.tpl)`, call,
    /// then restore to `old` again, dispatching what that returns. For an
    /// exact order when notifications signal further events, dispatch
    /// with [`Events::pop_due_notification`] instead.
    pub fn restore_tpl(&mut self, old: Tpl) -> Vec<Notification> {
        self.tpl = self.tpl.min(old);
        self.take_due_notifications(self.tpl)
    }

    /// Takes the highest-level queued notification above `current_tpl`
    /// (the earliest signaled among equals); an `EVT_NOTIFY_SIGNAL` event
    /// returns to the not-signaled state.
    pub fn pop_due_notification(&mut self, current_tpl: Tpl) -> Option<Notification> {
        let mut best: Option<(usize, Tpl)> = None;
        for (i, id) in self.queue.iter().enumerate() {
            let Some(ev) = self.events.get(id) else { continue };
            if ev.notify_tpl > current_tpl && best.is_none_or(|(_, t)| ev.notify_tpl > t) {
                best = Some((i, ev.notify_tpl));
            }
        }
        let (i, _) = best?;
        let id = self.queue.remove(i);
        let ev = self.events.get_mut(&id)?;
        ev.queued = false;
        if ev.kind & NOTIFY_SIGNAL != 0 {
            ev.signaled = false;
        }
        Some(Notification {
            event: id,
            function: ev.function,
            context: ev.context,
            tpl: ev.notify_tpl,
        })
    }

    /// Takes every queued notification above `current_tpl`, highest level
    /// first and in signal order within a level.
    pub fn take_due_notifications(&mut self, current_tpl: Tpl) -> Vec<Notification> {
        let mut out = Vec::new();
        while let Some(n) = self.pop_due_notification(current_tpl) {
            out.push(n);
        }
        out
    }
}

#[cfg(test)]
mod tests;
