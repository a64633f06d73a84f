//! The VMM's kernel command line, copied out of guest memory, and the
//! `vmfw.*` options vmfw reads from it.

use crate::{Error, PhysMem};

/// Longest command line kept; longer ones are cut (and say so).
pub const CMDLINE_MAX: usize = 4096;

/// A command line copied into firmware memory.
#[derive(Clone)]
pub struct Cmdline {
    buf: [u8; CMDLINE_MAX],
    len: usize,
    truncated: bool,
}

impl core::fmt::Debug for Cmdline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Cmdline {
    /// An empty command line.
    pub const fn empty() -> Self {
        Self { buf: [0; CMDLINE_MAX], len: 0, truncated: false }
    }

    /// Builds a command line from bytes (up to a NUL or [`CMDLINE_MAX`]).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut c = Self::empty();
        let n = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        for (dst, &b) in c.buf.iter_mut().zip(bytes.iter().take(n)) {
            *dst = b;
        }
        c.len = n.min(CMDLINE_MAX);
        c.truncated = n > CMDLINE_MAX;
        c
    }

    /// Copies the NUL-terminated string at `addr`, reading at most
    /// [`CMDLINE_MAX`] bytes. An address of 0 means "no command line".
    pub fn read(mem: &impl PhysMem, addr: u64) -> Result<Self, Error> {
        let mut c = Self::empty();
        if addr == 0 {
            return Ok(c);
        }
        // Read in small chunks so a command line near the end of RAM does
        // not make us read past it.
        let mut chunk = [0u8; 64];
        while c.len < CMDLINE_MAX {
            let at = addr.checked_add(c.len as u64).ok_or(Error::Unreadable(addr))?;
            mem.read(at, &mut chunk)?;
            for &b in &chunk {
                if b == 0 {
                    return Ok(c);
                }
                // No slot left once `len` reaches CMDLINE_MAX.
                let Some(dst) = c.buf.get_mut(c.len) else { break };
                *dst = b;
                c.len += 1;
            }
        }
        // The buffer is full: the line was cut unless its NUL comes right
        // after it (a line of exactly CMDLINE_MAX bytes is whole, as
        // `from_bytes` also says). An unreadable byte there means no NUL.
        let mut next = [0xffu8; 1];
        let nul_next = addr
            .checked_add(CMDLINE_MAX as u64)
            .is_some_and(|at| mem.read(at, &mut next).is_ok() && next == [0]);
        c.truncated = !nul_next;
        Ok(c)
    }

    /// The command line as text; bytes after the first invalid UTF-8
    /// sequence are dropped.
    pub fn as_str(&self) -> &str {
        // `len` never exceeds CMDLINE_MAX, the size of `buf`.
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or("")
            }
        }
    }

    /// True when the VMM's command line was longer than [`CMDLINE_MAX`].
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Whitespace-separated words.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.as_str().split_ascii_whitespace()
    }

    /// The value of the last `key=value` word (later words override
    /// earlier ones, as with kernel parameters).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.words()
            .filter_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
            .last()
    }

    /// All values of `key=value` words, in order (e.g. several
    /// `virtio_mmio.device=` hints).
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.words().filter_map(move |w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// True when `word` appears on its own.
    pub fn has(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::VecMem;

    #[test]
    fn reads_and_queries() {
        let mut m = VecMem::new(0x3000);
        m.put(0x1000, b"console=ttyS0 vmfw.log=debug  vmfw.log=trace virtio_mmio.device=4K@0xd0000000:5 quiet\0junk");
        let c = Cmdline::read(&m, 0x1000).unwrap();
        assert_eq!(c.value("vmfw.log"), Some("trace"));
        assert_eq!(
            c.values("virtio_mmio.device").collect::<std::vec::Vec<_>>(),
            ["4K@0xd0000000:5"]
        );
        assert!(c.has("quiet"));
        assert!(!c.has("vmfw.log"));
        assert_eq!(c.value("missing"), None);
        assert!(!c.truncated());
    }

    #[test]
    fn bounded_and_unterminated() {
        let mut m = VecMem::new(CMDLINE_MAX + 0x2000);
        for i in 0..CMDLINE_MAX + 100 {
            m.0[0x1000 + i] = b'a';
        }
        let c = Cmdline::read(&m, 0x1000).unwrap();
        assert!(c.truncated());
        assert_eq!(c.as_str().len(), CMDLINE_MAX);
        // A string running off the end of memory is an error, not a panic.
        let m = VecMem::new(0x1010);
        assert!(Cmdline::read(&VecMem(std::vec![b'x'; 0x1010]), 0x1000).is_err());
        assert_eq!(Cmdline::read(&m, 0).unwrap().as_str(), "");
    }

    /// Regression (the `cmdline` fuzz target's read/from_bytes agreement
    /// check fails on it): a line of exactly CMDLINE_MAX bytes followed by
    /// its NUL was reported as truncated by `read` but not by `from_bytes`.
    #[test]
    fn line_of_exactly_max_bytes_is_whole() {
        let mut m = VecMem::new(0x1000 + CMDLINE_MAX + 0x100);
        for i in 0..CMDLINE_MAX {
            m.0[0x1000 + i] = b'a';
        }
        let c = Cmdline::read(&m, 0x1000).unwrap();
        assert_eq!(c.as_str().len(), CMDLINE_MAX);
        assert!(!c.truncated());
        assert!(!Cmdline::from_bytes(&m.0[0x1000..]).truncated());
        // One byte more is cut, in both.
        m.0[0x1000 + CMDLINE_MAX] = b'a';
        assert!(Cmdline::read(&m, 0x1000).unwrap().truncated());
        assert!(Cmdline::from_bytes(&m.0[0x1000..]).truncated());
        // The NUL's byte unreadable: no NUL, so cut.
        let short = VecMem(m.0[..0x1000 + CMDLINE_MAX].to_vec());
        assert!(Cmdline::read(&short, 0x1000).unwrap().truncated());
    }

    #[test]
    fn invalid_utf8_is_cut() {
        let c = Cmdline::from_bytes(b"abc \xff def");
        assert_eq!(c.as_str(), "abc ");
    }
}
