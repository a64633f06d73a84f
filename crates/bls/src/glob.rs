//! Glob patterns for loader.conf's `default` key.
//!
//! systemd-boot's loader.conf(5) calls `default` "a glob pattern" and
//! supports `*`, `?` and `[...]` character sets (with ranges such as
//! `[0-9]`) and `\` escapes; a set is never negated (`[!a]` is the set of
//! `!` and `a`). We implement the same language so that a loader.conf
//! written for systemd-boot selects the same entry here.
//!
//! Matching is by Unicode scalar value and uses the classic greedy
//! algorithm that only remembers the last `*`: every other pattern element
//! matches exactly one character, so that is enough, and the time is
//! bounded by `pattern.len() * text.len()` steps (no exponential
//! backtracking on hostile patterns).

use core::str::Chars;

/// Whether `text` matches the glob `pattern` as a whole.
///
/// `*` matches any run of characters (also none), `?` any one character,
/// `[...]` one character of the set (`a-z` ranges allowed; `]` first in the
/// set and `-` first or last are literal), `\x` the character `x`. A
/// malformed pattern (an unterminated `[` or a trailing `\`) matches
/// nothing. Matching is case-sensitive; [`crate::select_default`] folds
/// ASCII case before it calls this, as systemd-boot does.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut p = pattern.chars();
    let mut t = text.chars();
    // Where to resume after the last `*`: the pattern after the star, and
    // the text one character further than the previous attempt.
    let mut star: Option<(Chars<'_>, Chars<'_>)> = None;
    loop {
        let mut p_next = p.clone();
        let mut t_next = t.clone();
        let matched = match p_next.next() {
            None => {
                if t.as_str().is_empty() {
                    return true;
                }
                false
            }
            Some('*') => {
                star = Some((p_next.clone(), t.clone()));
                p = p_next;
                continue;
            }
            Some(c) => match t_next.next() {
                None => false,
                Some(h) => match element_matches(c, &mut p_next, h) {
                    Some(m) => m,
                    // A malformed element can never match.
                    None => return false,
                },
            },
        };
        if matched {
            p = p_next;
            t = t_next;
            continue;
        }
        // Let the last `*` swallow one more character and retry.
        let Some((sp, st)) = star.as_mut() else {
            return false;
        };
        if st.next().is_none() {
            return false;
        }
        p = sp.clone();
        t = st.clone();
    }
}

/// Matches one non-`*` pattern element that starts with `c` (the rest of
/// it, if any, is consumed from `p`) against the text character `h`.
/// `None` if the pattern is malformed.
fn element_matches(c: char, p: &mut Chars<'_>, h: char) -> Option<bool> {
    match c {
        '?' => Some(true),
        '\\' => Some(p.next()? == h),
        '[' => set_matches(p, h),
        c => Some(c == h),
    }
}

/// Matches the set whose `[` was just consumed; leaves `p` after its `]`.
fn set_matches(p: &mut Chars<'_>, h: char) -> Option<bool> {
    let mut matched = false;
    let mut first = true;
    loop {
        let mut c = p.next()?;
        if c == ']' && !first {
            return Some(matched);
        }
        first = false;
        if c == '\\' {
            c = p.next()?;
        }
        // A range `c-d`, unless the `-` is the last character of the set.
        let mut look = p.clone();
        if look.next() == Some('-') && !matches!(look.clone().next(), Some(']') | None) {
            let mut d = look.next()?;
            if d == '\\' {
                d = look.next()?;
            }
            *p = look;
            matched |= c <= h && h <= d;
        } else {
            matched |= c == h;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_wildcards() {
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("abc", "abc"));
        assert!(!glob_match("abc", "abd"));
        assert!(!glob_match("abc", "ab"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything.conf"));
        assert!(glob_match("a*", "a"));
        assert!(glob_match("*.conf", "fedora.conf"));
        assert!(!glob_match("*.conf", "fedora.con"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("a*b*c", "abcbc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(glob_match("**x", "x"));
        assert!(glob_match("?", "ä"));
        assert!(!glob_match("?", ""));
        assert!(glob_match("fedora-6.?.conf", "fedora-6.8.conf"));
        assert!(!glob_match("fedora-6.?.conf", "fedora-6.10.conf"));
    }

    #[test]
    fn sets() {
        assert!(glob_match("[abc]", "b"));
        assert!(!glob_match("[abc]", "d"));
        assert!(glob_match("x[0-9]y", "x5y"));
        assert!(!glob_match("x[0-9]y", "xay"));
        assert!(glob_match("[]]", "]"));
        assert!(glob_match("[a-]", "-"));
        assert!(glob_match("[-a]", "-"));
        assert!(glob_match("[a-c-e]", "-"));
        assert!(!glob_match("[a-c-e]", "d"));
        // No negation, as in systemd-boot.
        assert!(glob_match("[!a]", "!"));
        assert!(glob_match("[!a]", "a"));
        assert!(!glob_match("[!a]", "b"));
        assert!(glob_match("[\\]]", "]"));
        assert!(glob_match("[a\\-z]", "-"));
        assert!(!glob_match("[a\\-z]", "b"));
        assert!(glob_match("*[0-9].conf", "debian-6.1.0-18-amd64.conf"));
        assert!(!glob_match("*[a-c].conf", "debian-6.1.0-18-amd64.conf"));
        assert!(glob_match("*[0-9]*.conf", "debian-6.1.0-18-amd64.conf"));
    }

    #[test]
    fn escapes_and_malformed() {
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(!glob_match("a\\", "a"));
        assert!(!glob_match("a\\", "a\\"));
        assert!(!glob_match("[abc", "a"));
        assert!(!glob_match("*[abc", "xxa"));
        assert!(!glob_match("[a-", "a"));
    }

    #[test]
    fn no_blowup() {
        let pattern = "*a*a*a*a*a*a*a*a*a*a*a*b";
        let text = "a".repeat(4000);
        assert!(!glob_match(pattern, &text));
    }
}
