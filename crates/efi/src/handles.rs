//! The handle and protocol database (UEFI §7.3, "Protocol Handler
//! Services").
//!
//! Invariants and choices:
//! - A [`Handle`] is an opaque non-zero number, never reused; handles are
//!   kept and returned in creation order, so every `LocateHandle()` answer
//!   is stable.
//! - A handle exists exactly while it carries at least one protocol: the
//!   first install creates it, the last uninstall frees it (§7.3,
//!   `InstallProtocolInterface()`, `UninstallProtocolInterface()`).
//! - Interfaces are addresses (`u64`); the database never dereferences
//!   them. Where the spec needs to compare device paths
//!   (`InstallMultipleProtocolInterfaces()` → `EFI_ALREADY_STARTED`), the
//!   caller supplies the comparison.
//! - Notification events (`RegisterProtocolNotify()`) are opaque `u64`s;
//!   installs queue them and [`Database::take_signals`] hands them to the
//!   event code, since this crate does not signal events itself.
//! - Multi-protocol calls validate everything first and then change
//!   state, so they are all-or-nothing without a rollback path.
//! - vmfw has no UEFI driver model (no `ConnectController()`), so where
//!   the spec would first disconnect drivers that hold a protocol
//!   `BY_DRIVER`, this database answers `EFI_ACCESS_DENIED` at once.

use crate::{Error, Guid, Result, SizedError};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::num::NonZeroUsize;

/// An `EFI_HANDLE`: opaque, non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub NonZeroUsize);

/// A `RegisterProtocolNotify()` registration key: opaque, non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registration(pub NonZeroUsize);

/// `OpenProtocol()` attribute bits (UEFI §7.3).
pub mod open {
    /// Used by `HandleProtocol()`.
    pub const BY_HANDLE_PROTOCOL: u32 = 0x01;
    /// Get the interface without an obligation to close it.
    pub const GET_PROTOCOL: u32 = 0x02;
    /// Test for the protocol; no interface returned.
    pub const TEST_PROTOCOL: u32 = 0x04;
    /// A bus driver's child uses the parent's protocol.
    pub const BY_CHILD_CONTROLLER: u32 = 0x08;
    /// A driver manages the controller through the protocol.
    pub const BY_DRIVER: u32 = 0x10;
    /// Exclusive use.
    pub const EXCLUSIVE: u32 = 0x20;
}

/// One entry of `OpenProtocolInformation()` (`EFI_OPEN_PROTOCOL_INFORMATION_ENTRY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInfo {
    /// `AgentHandle`.
    pub agent: Option<Handle>,
    /// `ControllerHandle`.
    pub controller: Option<Handle>,
    /// `Attributes`.
    pub attributes: u32,
    /// `OpenCount`.
    pub open_count: u32,
}

/// `EFI_LOCATE_SEARCH_TYPE` with its operand (UEFI §7.3, `LocateHandle()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchType {
    /// `AllHandles`.
    AllHandles,
    /// `ByRegisterNotify`: the next handle new to the registration.
    ByRegisterNotify(Registration),
    /// `ByProtocol`: every handle carrying the protocol.
    ByProtocol(Guid),
}

#[derive(Debug)]
struct Interface {
    guid: Guid,
    address: u64,
    opens: Vec<OpenInfo>,
}

#[derive(Debug)]
struct HandleEntry {
    handle: Handle,
    protocols: Vec<Interface>,
}

#[derive(Debug)]
struct Notify {
    registration: Registration,
    guid: Guid,
    event: u64,
    queue: VecDeque<Handle>,
}

/// The database. See the module docs for its invariants.
#[derive(Debug, Default)]
pub struct Database {
    handles: Vec<HandleEntry>,
    notifies: Vec<Notify>,
    signals: Vec<u64>,
    next_id: usize,
}

impl Database {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    fn new_id(&mut self) -> Result<NonZeroUsize> {
        self.next_id = self.next_id.checked_add(1).ok_or(Error::OutOfResources)?;
        NonZeroUsize::new(self.next_id).ok_or(Error::OutOfResources)
    }

    fn entry(&self, h: Handle) -> Result<&HandleEntry> {
        self.handles.iter().find(|e| e.handle == h).ok_or(Error::InvalidParameter)
    }

    fn entry_mut(&mut self, h: Handle) -> Result<&mut HandleEntry> {
        self.handles.iter_mut().find(|e| e.handle == h).ok_or(Error::InvalidParameter)
    }

    fn interface(&self, h: Handle, guid: &Guid) -> Option<&Interface> {
        self.entry(h).ok()?.protocols.iter().find(|p| p.guid == *guid)
    }

    fn interface_mut(&mut self, h: Handle, guid: &Guid) -> Option<&mut Interface> {
        self.entry_mut(h).ok()?.protocols.iter_mut().find(|p| p.guid == *guid)
    }

    /// True when `h` is a live handle.
    pub fn is_valid(&self, h: Handle) -> bool {
        self.entry(h).is_ok()
    }

    /// All live handles, in creation order.
    pub fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.handles.iter().map(|e| e.handle)
    }

    fn notify_installed(&mut self, h: Handle, guid: &Guid) {
        for n in self.notifies.iter_mut().filter(|n| n.guid == *guid) {
            n.queue.push_back(h);
            self.signals.push(n.event);
        }
    }

    /// The notification events to signal because of installs since the
    /// last call, in order (UEFI §7.3, `RegisterProtocolNotify()`).
    pub fn take_signals(&mut self) -> Vec<u64> {
        core::mem::take(&mut self.signals)
    }

    /// `InstallProtocolInterface()`: installs `guid` → `interface` on
    /// `handle`, or on a new handle when `handle` is `None`; returns the
    /// handle.
    ///
    /// Errors: `InvalidParameter` when `handle` is not a live handle or
    /// already carries `guid`.
    pub fn install_protocol_interface(
        &mut self,
        handle: Option<Handle>,
        guid: Guid,
        interface: u64,
    ) -> Result<Handle> {
        self.install_multiple_protocol_interfaces(handle, &[(guid, interface)], |_, _| false)
    }

    /// `InstallMultipleProtocolInterfaces()`: installs all pairs or none.
    ///
    /// `same_device_path(new, existing)` compares two device path
    /// interfaces by content; it is consulted when `pairs` holds a device
    /// path, and a match with any installed device path fails the call with
    /// `AlreadyStarted` (UEFI §7.3). Errors otherwise as
    /// [`Database::install_protocol_interface`], including a GUID listed
    /// twice.
    pub fn install_multiple_protocol_interfaces(
        &mut self,
        handle: Option<Handle>,
        pairs: &[(Guid, u64)],
        mut same_device_path: impl FnMut(u64, u64) -> bool,
    ) -> Result<Handle> {
        if pairs.is_empty() {
            return Err(Error::InvalidParameter);
        }
        if let Some(h) = handle {
            let e = self.entry(h)?;
            if pairs.iter().any(|(g, _)| e.protocols.iter().any(|p| p.guid == *g)) {
                return Err(Error::InvalidParameter);
            }
        }
        for (i, (g, _)) in pairs.iter().enumerate() {
            if pairs.iter().skip(i + 1).any(|(o, _)| o == g) {
                return Err(Error::InvalidParameter);
            }
        }
        for (_, new) in pairs.iter().filter(|(g, _)| *g == crate::guid::DEVICE_PATH) {
            let dup = self
                .handles
                .iter()
                .flat_map(|e| e.protocols.iter())
                .filter(|p| p.guid == crate::guid::DEVICE_PATH)
                .any(|p| same_device_path(*new, p.address));
            if dup {
                return Err(Error::AlreadyStarted);
            }
        }
        let h = match handle {
            Some(h) => h,
            None => {
                let h = Handle(self.new_id()?);
                self.handles.push(HandleEntry { handle: h, protocols: Vec::new() });
                h
            }
        };
        let entry = self.entry_mut(h)?;
        for &(guid, address) in pairs {
            entry.protocols.push(Interface { guid, address, opens: Vec::new() });
        }
        for (guid, _) in pairs {
            self.notify_installed(h, guid);
        }
        Ok(h)
    }

    /// Checks that `guid` → `interface` can be removed from `h` now.
    fn check_removable(&self, h: Handle, guid: &Guid, interface: u64) -> Result<()> {
        self.entry(h)?;
        let p = self.interface(h, guid).ok_or(Error::NotFound)?;
        if p.address != interface {
            return Err(Error::NotFound);
        }
        // Opens that carry no obligation are dropped with the interface;
        // anything else (a driver or a child still using it) blocks.
        let casual = open::BY_HANDLE_PROTOCOL | open::GET_PROTOCOL | open::TEST_PROTOCOL;
        if p.opens.iter().any(|o| o.attributes & !casual != 0) {
            return Err(Error::AccessDenied);
        }
        Ok(())
    }

    fn remove(&mut self, h: Handle, guid: &Guid) {
        if let Ok(e) = self.entry_mut(h) {
            e.protocols.retain(|p| p.guid != *guid);
            if e.protocols.is_empty() {
                self.handles.retain(|e| e.handle != h);
            }
        }
    }

    /// `UninstallProtocolInterface()`: removes `guid` → `interface` from
    /// `h`, freeing `h` when it was the last protocol.
    ///
    /// Errors: `InvalidParameter` for a dead handle; `NotFound` when the
    /// protocol is not on `h` with that interface; `AccessDenied` while it
    /// is open `BY_DRIVER`, `EXCLUSIVE` or `BY_CHILD_CONTROLLER`.
    pub fn uninstall_protocol_interface(
        &mut self,
        h: Handle,
        guid: Guid,
        interface: u64,
    ) -> Result<()> {
        self.check_removable(h, &guid, interface)?;
        self.remove(h, &guid);
        Ok(())
    }

    /// `UninstallMultipleProtocolInterfaces()`: removes all pairs or none;
    /// any failure is `InvalidParameter`, as UEFI §7.3 lists no other code.
    pub fn uninstall_multiple_protocol_interfaces(
        &mut self,
        h: Handle,
        pairs: &[(Guid, u64)],
    ) -> Result<()> {
        for (i, (g, iface)) in pairs.iter().enumerate() {
            if pairs.iter().skip(i + 1).any(|(o, _)| o == g) {
                return Err(Error::InvalidParameter);
            }
            self.check_removable(h, g, *iface).map_err(|_| Error::InvalidParameter)?;
        }
        for (g, _) in pairs {
            self.remove(h, g);
        }
        Ok(())
    }

    /// `ReinstallProtocolInterface()`: replaces `old` with `new` for
    /// `guid` on `h` and notifies registrations as an install does.
    ///
    /// Errors: `InvalidParameter` for a dead handle; `NotFound` when
    /// `old` is not installed; `AccessDenied` as for uninstall.
    pub fn reinstall_protocol_interface(
        &mut self,
        h: Handle,
        guid: Guid,
        old: u64,
        new: u64,
    ) -> Result<()> {
        self.check_removable(h, &guid, old)?;
        if let Some(p) = self.interface_mut(h, &guid) {
            p.address = new;
            p.opens.clear();
        }
        self.notify_installed(h, &guid);
        Ok(())
    }

    /// `HandleProtocol()`: the interface of `guid` on `h`.
    /// `InvalidParameter` for a dead handle, `Unsupported` when `h` lacks
    /// the protocol. (EDK II records this as an open by the firmware's
    /// image; vmfw has no driver that would consult that record.)
    pub fn handle_protocol(&self, h: Handle, guid: Guid) -> Result<u64> {
        self.entry(h)?;
        self.interface(h, &guid).map(|p| p.address).ok_or(Error::Unsupported)
    }

    /// `OpenProtocol()` (UEFI §7.3): returns the interface (0 for
    /// `TEST_PROTOCOL`, which returns none) and records the open.
    ///
    /// Errors: `InvalidParameter` for a dead `h`, an attribute value that
    /// is not one of the six the spec allows, or a missing or dead agent or
    /// controller where the attribute needs one (and `controller == h` for
    /// `BY_CHILD_CONTROLLER`); `Unsupported` when `h` lacks the protocol;
    /// `AlreadyStarted` when the same agent already holds it `BY_DRIVER`
    /// (with the same exclusivity; the shim then still returns the
    /// interface, from [`Database::handle_protocol`]); `AccessDenied` when
    /// another agent holds it `BY_DRIVER`, or anyone holds it `EXCLUSIVE`,
    /// in a way that conflicts.
    pub fn open_protocol(
        &mut self,
        h: Handle,
        guid: Guid,
        agent: Option<Handle>,
        controller: Option<Handle>,
        attributes: u32,
    ) -> Result<u64> {
        use open::*;
        self.entry(h)?;
        let (need_agent, need_controller) = match attributes {
            BY_HANDLE_PROTOCOL | GET_PROTOCOL | TEST_PROTOCOL => (false, false),
            BY_CHILD_CONTROLLER | BY_DRIVER => (true, true),
            x if x == BY_DRIVER | EXCLUSIVE => (true, true),
            EXCLUSIVE => (true, false),
            _ => return Err(Error::InvalidParameter),
        };
        let live = |x: Option<Handle>| x.is_some_and(|x| self.is_valid(x));
        if (need_agent && !live(agent)) || (need_controller && !live(controller)) {
            return Err(Error::InvalidParameter);
        }
        if attributes == BY_CHILD_CONTROLLER && controller == Some(h) {
            return Err(Error::InvalidParameter);
        }
        let p = self.interface(h, &guid).ok_or(Error::Unsupported)?;
        if attributes == TEST_PROTOCOL {
            return Ok(0);
        }
        for o in &p.opens {
            let same_agent = o.agent == agent;
            let held_by_driver = o.attributes & BY_DRIVER != 0;
            let held_exclusive = o.attributes & EXCLUSIVE != 0;
            if attributes & BY_DRIVER != 0 && held_by_driver && same_agent {
                if o.attributes == attributes {
                    return Err(Error::AlreadyStarted);
                }
                return Err(Error::AccessDenied);
            }
            if attributes & (BY_DRIVER | EXCLUSIVE) != 0 && (held_by_driver || held_exclusive) {
                return Err(Error::AccessDenied);
            }
        }
        let address = p.address;
        let p = self.interface_mut(h, &guid).ok_or(Error::Unsupported)?;
        match p
            .opens
            .iter_mut()
            .find(|o| o.agent == agent && o.controller == controller && o.attributes == attributes)
        {
            Some(o) => o.open_count = o.open_count.saturating_add(1),
            None => p.opens.push(OpenInfo { agent, controller, attributes, open_count: 1 }),
        }
        Ok(address)
    }

    /// `CloseProtocol()` (UEFI §7.3): drops every open of `guid` on `h` by
    /// `agent` for `controller`.
    ///
    /// Errors: `InvalidParameter` for a dead `h` or `agent`, or a dead
    /// `controller` that is given; `NotFound` when `h` lacks the protocol
    /// or it is not open by that agent and controller.
    pub fn close_protocol(
        &mut self,
        h: Handle,
        guid: Guid,
        agent: Handle,
        controller: Option<Handle>,
    ) -> Result<()> {
        self.entry(h)?;
        self.entry(agent)?;
        if let Some(c) = controller {
            self.entry(c)?;
        }
        let p = self.interface_mut(h, &guid).ok_or(Error::NotFound)?;
        let before = p.opens.len();
        p.opens.retain(|o| !(o.agent == Some(agent) && o.controller == controller));
        if p.opens.len() == before {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// `OpenProtocolInformation()`: the open records of `guid` on `h`;
    /// `NotFound` when `h` is dead or lacks the protocol.
    pub fn open_protocol_information(&self, h: Handle, guid: Guid) -> Result<Vec<OpenInfo>> {
        self.interface(h, &guid).map(|p| p.opens.clone()).ok_or(Error::NotFound)
    }

    /// `ProtocolsPerHandle()`: the protocols on `h`, in install order;
    /// `InvalidParameter` for a dead handle.
    pub fn protocols_per_handle(&self, h: Handle) -> Result<Vec<Guid>> {
        Ok(self.entry(h)?.protocols.iter().map(|p| p.guid).collect())
    }

    /// `RegisterProtocolNotify()`: from now on, each install (or reinstall)
    /// of `guid` queues the handle for the registration and `event` for
    /// [`Database::take_signals`].
    pub fn register_protocol_notify(&mut self, guid: Guid, event: u64) -> Result<Registration> {
        let registration = Registration(self.new_id()?);
        self.notifies.push(Notify { registration, guid, event, queue: VecDeque::new() });
        Ok(registration)
    }

    /// Pops the next queued handle of a registration that still carries
    /// the protocol (it may have been uninstalled since), with its
    /// interface.
    fn next_notified(&mut self, reg: Registration) -> Result<Option<(Handle, u64)>> {
        let idx = self
            .notifies
            .iter()
            .position(|n| n.registration == reg)
            .ok_or(Error::InvalidParameter)?;
        loop {
            let Some(n) = self.notifies.get_mut(idx) else { return Ok(None) };
            let guid = n.guid;
            let Some(h) = n.queue.pop_front() else { return Ok(None) };
            if let Some(p) = self.interface(h, &guid) {
                return Ok(Some((h, p.address)));
            }
        }
    }

    fn peek_notified(&self, reg: Registration) -> Result<Option<Handle>> {
        let n =
            self.notifies.iter().find(|n| n.registration == reg).ok_or(Error::InvalidParameter)?;
        Ok(n.queue.iter().copied().find(|h| self.interface(*h, &n.guid).is_some()))
    }

    /// `LocateHandle()`: the handles matching `search`, when they fit into
    /// `capacity` handles. For `ByRegisterNotify` that is one handle, and
    /// it is consumed only when it is returned.
    ///
    /// Errors: `NotFound` when nothing matches; `BufferTooSmall` with
    /// `required` = the number of handles; `InvalidParameter` for an
    /// unknown registration.
    pub fn locate_handle(
        &mut self,
        search: SearchType,
        capacity: usize,
    ) -> core::result::Result<Vec<Handle>, SizedError> {
        let found = match search {
            SearchType::ByRegisterNotify(reg) => self.peek_notified(reg)?.into_iter().collect(),
            _ => self.matching(search),
        };
        if found.is_empty() {
            return Err(Error::NotFound.into());
        }
        if found.len() > capacity {
            return Err(SizedError { error: Error::BufferTooSmall, required: found.len() });
        }
        if let SearchType::ByRegisterNotify(reg) = search {
            self.next_notified(reg)?;
        }
        Ok(found)
    }

    fn matching(&self, search: SearchType) -> Vec<Handle> {
        self.handles
            .iter()
            .filter(|e| match search {
                SearchType::ByProtocol(g) => e.protocols.iter().any(|p| p.guid == g),
                _ => true,
            })
            .map(|e| e.handle)
            .collect()
    }

    /// `LocateHandleBuffer()`: as [`Database::locate_handle`] with a buffer
    /// that always fits.
    pub fn locate_handle_buffer(&mut self, search: SearchType) -> Result<Vec<Handle>> {
        self.locate_handle(search, usize::MAX).map_err(|e| e.error)
    }

    /// `LocateProtocol()`: the interface of the first handle carrying
    /// `guid`, or with a registration, of the next handle new to it;
    /// `NotFound` when there is none.
    pub fn locate_protocol(
        &mut self,
        guid: Guid,
        registration: Option<Registration>,
    ) -> Result<u64> {
        match registration {
            Some(reg) => {
                self.next_notified(reg).ok().flatten().map(|(_, a)| a).ok_or(Error::NotFound)
            }
            None => self
                .handles
                .iter()
                .find_map(|e| e.protocols.iter().find(|p| p.guid == guid))
                .map(|p| p.address)
                .ok_or(Error::NotFound),
        }
    }
}

#[cfg(test)]
mod tests;
