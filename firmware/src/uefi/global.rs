//! Global state for the UEFI environment, behind locks that refuse
//! re-entry.
//!
//! vmfw runs on one CPU with interrupts off, so a lock that is already
//! held can only mean that a service was re-entered while it held the
//! state (a firmware bug, since guest code is never called with a lock
//! held). Waiting would hang silently; [`Global::with`] panics instead,
//! which reports the place and powers off.

use spin::Mutex;

/// A lazily initialised global with re-entry detection.
pub struct Global<T>(Mutex<Option<T>>);

impl<T> Global<T> {
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Sets the value (again).
    pub fn set(&self, v: T) {
        *self.0.try_lock().expect("UEFI state re-entered during set") = Some(v);
    }

    /// Runs `f` on the value; panics if it is not set or is in use.
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.0.try_lock().expect("UEFI state re-entered");
        f(g.as_mut().expect("UEFI state used before it was set"))
    }

    /// Runs `f` on the value if it is set.
    #[track_caller]
    pub fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut g = self.0.try_lock().expect("UEFI state re-entered");
        g.as_mut().map(f)
    }
}

/// A value at a fixed address that guest code reads and writes through
/// pointers (system table, services tables, protocol interfaces of the
/// firmware). Rust code touches it only through raw pointers.
pub struct Shared<T>(core::cell::UnsafeCell<T>);

// SAFETY: vmfw runs on one CPU without interrupts; the contents are only
// accessed through raw pointers, by the firmware while no guest code runs
// or by guest code as the UEFI ABI allows.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }

    pub fn get(&self) -> *mut T {
        self.0.get()
    }

    pub fn addr(&self) -> u64 {
        self.0.get() as u64
    }
}
