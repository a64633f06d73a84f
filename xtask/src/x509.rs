//! Just enough X.509 for enrolling and inspecting Secure Boot keys on the
//! host: PEM to DER, a DER walk that checks a certificate's outer shape
//! (RFC 5280 §4.1), and its subject's common name and organisation. The
//! firmware's verifier does the real parsing; this only names things for
//! an operator.

/// One DER element: its tag, its contents, and the offset after it.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    next: usize,
}

/// The DER element at `at` of `b` (definite lengths, up to 4 length bytes).
fn tlv(b: &[u8], at: usize) -> Option<Tlv<'_>> {
    let tag = *b.get(at)?;
    let first = *b.get(at + 1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = b.get(at + 2..at + 2 + n)?;
        (bytes.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x)), 2 + n)
    };
    let start = at + head;
    let content = b.get(start..start.checked_add(len)?)?;
    Some(Tlv { tag, content, next: start + len })
}

/// The elements inside a constructed element's contents.
fn children(content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < content.len() {
        let t = tlv(content, at)?;
        at = t.next;
        out.push(t);
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// id-at-commonName, 2.5.4.3, and id-at-organizationName, 2.5.4.10.
const CN: &[u8] = &[0x55, 0x04, 0x03];
const O: &[u8] = &[0x55, 0x04, 0x0a];

/// True when `der` is exactly one DER SEQUENCE holding three elements, a
/// SEQUENCE (tbsCertificate), a SEQUENCE (signatureAlgorithm) and a BIT
/// STRING (signatureValue): an X.509 certificate's shape.
pub fn is_certificate(der: &[u8]) -> bool {
    let Some(outer) = tlv(der, 0) else { return false };
    if outer.tag != SEQUENCE || outer.next != der.len() {
        return false;
    }
    let Some(parts) = children(outer.content) else { return false };
    matches!(parts.iter().map(|p| p.tag).collect::<Vec<_>>()[..], [SEQUENCE, SEQUENCE, 0x03])
}

/// The subject's "CN=…, O=…" (whichever are present), or why not.
pub fn subject(der: &[u8]) -> String {
    subject_name(der).unwrap_or_else(|| "(unreadable subject)".into())
}

fn subject_name(der: &[u8]) -> Option<String> {
    let cert = tlv(der, 0)?;
    let tbs = children(cert.content)?.into_iter().next()?;
    let fields = children(tbs.content)?;
    // version [0] is optional; then serial, signature, issuer, validity,
    // subject.
    let skip = usize::from(fields.first()?.tag == 0xa0);
    let name = fields.get(skip + 4)?;
    if name.tag != SEQUENCE {
        return None;
    }
    let (mut cn, mut o) = (None, None);
    for rdn in children(name.content)?.iter().filter(|r| r.tag == SET) {
        for atv in children(rdn.content)? {
            let [oid, value] = &children(atv.content)?[..] else { continue };
            if oid.tag != OID {
                continue;
            }
            let text = String::from_utf8_lossy(value.content).into_owned();
            if oid.content == CN {
                cn = Some(text);
            } else if oid.content == O {
                o = Some(text);
            }
        }
    }
    let parts: Vec<String> = [cn.map(|c| format!("CN={c}")), o.map(|o| format!("O={o}"))]
        .into_iter()
        .flatten()
        .collect();
    Some(if parts.is_empty() { "(no CN or O)".into() } else { parts.join(", ") })
}

/// The DER bytes of every `CERTIFICATE` block of a PEM text; `None` when
/// there is none or one does not decode.
pub fn pem_certificates(text: &[u8]) -> Option<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body_start = begin + "-----BEGIN CERTIFICATE-----".len();
        let end = rest[body_start..].find("-----END CERTIFICATE-----")? + body_start;
        out.push(base64(&rest[body_start..end])?);
        rest = &rest[end..];
        rest = &rest["-----END CERTIFICATE-----".len()..];
    }
    (!out.is_empty()).then_some(out)
}

/// Standard base64 with padding; whitespace is skipped.
fn base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A DER element with `tag` around `content`.
    fn el(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        v.extend_from_slice(content);
        v
    }

    fn attr(oid: &[u8], value: &str) -> Vec<u8> {
        let atv = [el(OID, oid), el(0x0c, value.as_bytes())].concat();
        el(SET, &el(SEQUENCE, &atv))
    }

    /// A certificate's shape with the subject given; the rest filler.
    pub fn fake_cert(cn: &str) -> Vec<u8> {
        let name =
            el(SEQUENCE, &[attr(&[0x55, 4, 6], "XX"), attr(O, "Org"), attr(CN, cn)].concat());
        let tbs = el(
            SEQUENCE,
            &[
                el(0xa0, &el(0x02, &[2])),
                el(0x02, &[1, 2, 3]),
                el(SEQUENCE, &el(OID, &[1])),
                el(SEQUENCE, &[]),
                el(SEQUENCE, &[el(0x17, b"x"), el(0x17, b"y")].concat()),
                name,
                el(SEQUENCE, &[0; 200]),
            ]
            .concat(),
        );
        el(SEQUENCE, &[tbs, el(SEQUENCE, &el(OID, &[1])), el(0x03, &[0, 1, 2])].concat())
    }

    #[test]
    fn reads_subject_and_shape() {
        let c = fake_cert("Test CA");
        assert!(is_certificate(&c));
        assert_eq!(subject(&c), "CN=Test CA, O=Org");
        assert!(!is_certificate(&c[..c.len() - 1]));
        let mut longer = c.clone();
        longer.push(0);
        assert!(!is_certificate(&longer));
        assert_eq!(subject(&[0x30, 0x00]), "(unreadable subject)");
    }

    #[test]
    fn pem() {
        let c = fake_cert("P");
        let b64 = {
            const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for chunk in c.chunks(3) {
                let n = chunk.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..4 {
                    if i <= chunk.len() {
                        s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        s.push('=');
                    }
                }
            }
            s
        };
        let lines: Vec<&str> =
            b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        let pem = format!(
            "junk\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n"),
            lines.join("\n")
        );
        assert_eq!(pem_certificates(pem.as_bytes()), Some(vec![c.clone(), c]));
        assert_eq!(pem_certificates(b"no pem here"), None);
        assert_eq!(
            pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"),
            None
        );
    }
}
