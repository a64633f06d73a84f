//! The three kinds of global the UEFI layer needs, and nothing else.
//!
//! vmfw runs on one CPU with interrupts off, so a lock that is already
//! held can only mean that a service was re-entered while it held the
//! state (a firmware bug, since guest code is never called with a lock
//! held). Waiting would hang silently; the accessors panic instead, which
//! reports the place and powers off. The diagnostic build reports the
//! caller's place (`track_caller`); the default one the accessor's, since
//! a caller location for each of the some two hundred call sites costs
//! about 3 KB of the image (24 bytes of read-only data and an argument
//! each).
//!
//! - [`Global`]: state owned by the UEFI layer, set once, used under a
//!   lock that refuses re-entry.
//! - [`Shared`]: data at a fixed address that guest code reads and writes
//!   through pointers (the system and services tables). Rust code touches
//!   it only through raw pointers.
//! - [`Lent`]: something the UEFI layer does not own (the boot manager's
//!   disks), reachable only while its owner lends it.

use core::ptr::NonNull;
use spin::Mutex;

/// A lazily initialised global with re-entry detection.
pub struct Global<T>(Mutex<Option<T>>);

// SAFETY: vmfw runs on one CPU with interrupts off, so the value is never
// reached from two threads; the lock only detects re-entry. (The state
// holds raw pointers of the UEFI ABI, which are not `Send`.)
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Sets the value. The state is set once per boot (when the UEFI
    /// environment comes up), so a value set before is forgotten, not
    /// dropped: the drop code of the whole state would cost the image
    /// about 0.5 KB for a path that never runs.
    pub fn set(&self, v: T) {
        let mut g = self.0.try_lock().expect("UEFI state re-entered during set");
        core::mem::forget(g.replace(v));
    }

    /// Runs `f` on the value; panics if it is not set or is in use.
    #[cfg_attr(feature = "diagnostics", track_caller)]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let (_guard, v) = self.enter();
        // SAFETY: `v` points into the value `_guard` keeps locked until
        // the end of this function; nothing else touches it meanwhile.
        f(unsafe { &mut *v.as_ptr() })
    }

    /// Runs `f` on the value if it is set.
    #[cfg_attr(feature = "diagnostics", track_caller)]
    pub fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut g = self.lock();
        g.as_mut().map(f)
    }

    /// Locks the value; panics (at the caller's place in the diagnostic
    /// build) if it is in use.
    /// Kept out of line: the UEFI shims call it in some two hundred
    /// places, and the lock and panic path inlined at each cost several
    /// KiB of the image.
    #[cfg_attr(feature = "diagnostics", track_caller)]
    #[inline(never)]
    fn lock(&self) -> spin::MutexGuard<'_, Option<T>> {
        self.0.try_lock().expect("UEFI state re-entered")
    }

    /// Locks the value and points at it; panics (as [`Global::lock`]) if
    /// it is in use or not set. Out of line as [`Global::lock`].
    #[cfg_attr(feature = "diagnostics", track_caller)]
    #[inline(never)]
    fn enter(&self) -> (spin::MutexGuard<'_, Option<T>>, NonNull<T>) {
        let mut g = self.lock();
        let v = NonNull::from(g.as_mut().expect("UEFI state used before it was set"));
        (g, v)
    }
}

/// A value at a fixed address that guest code reads and writes through
/// pointers. Rust code touches it only through raw pointers.
pub struct Shared<T>(core::cell::UnsafeCell<T>);

// SAFETY: vmfw runs on one CPU without interrupts; the contents are only
// accessed through raw pointers, by the firmware while no guest code runs
// or by guest code as the UEFI ABI allows.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }

    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// An immutable value handed to guest code by address (a protocol's
/// function table). The wrapper only makes a table holding raw pointers
/// usable as a `static`.
pub struct Interface<T>(pub T);

// SAFETY: the value is never written after compile time (guest code gets
// a pointer it may only read through, as the UEFI ABI allows), and vmfw
// runs on one CPU.
unsafe impl<T> Sync for Interface<T> {}

impl<T> Interface<T> {
    pub fn addr(&'static self) -> u64 {
        &self.0 as *const T as u64
    }
}

/// A value borrowed from its owner for the length of a [`Lent::lend`]
/// call, reachable from the UEFI shims meanwhile.
pub struct Lent<T: ?Sized>(Mutex<Option<NonNull<T>>>);

// SAFETY: one CPU, no interrupts; the pointer is only dereferenced while
// `lend` keeps the owner's `&mut` borrow alive, under the lock.
unsafe impl<T: ?Sized> Sync for Lent<T> {}

impl<T: ?Sized> Lent<T> {
    pub const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Makes `value` reachable through [`Lent::with`] while `f` runs.
    /// Lending again while lent (a nested boot) keeps the outer loan.
    pub fn lend<R>(&self, value: &mut T, f: impl FnOnce() -> R) -> R {
        let outer = self.lock().replace(NonNull::from(value));
        let r = f();
        *self.lock() = outer;
        r
    }

    /// Locks the loan; panics (as [`Global::lock`]) if it is in use.
    /// Out of line for the same reason as [`Global::lock`].
    #[cfg_attr(feature = "diagnostics", track_caller)]
    #[inline(never)]
    fn lock(&self) -> spin::MutexGuard<'_, Option<NonNull<T>>> {
        self.0.try_lock().expect("lent value re-entered")
    }

    /// Runs `f` on the lent value; `None` when nothing is lent.
    #[cfg_attr(feature = "diagnostics", track_caller)]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let g = self.lock();
        // SAFETY: the pointer comes from the `&mut T` that `lend` holds
        // borrowed for as long as it is stored here; the lock makes this
        // the only access.
        (*g).map(|mut p| f(unsafe { p.as_mut() }))
    }
}
