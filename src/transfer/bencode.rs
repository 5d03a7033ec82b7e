//! A small, strict bencode reader and writer.
//!
//! The reader is used on untrusted bytes (.torrent files, tracker queries), so it is bounded:
//! nesting depth, element count and integer range are limited, non-canonical integers and
//! duplicate or unsorted dictionary keys are refused (checked against the previous key only,
//! so reading is linear in the input), and every dictionary value keeps its byte span so the
//! info hash can be computed over the exact bytes of the info dictionary.

use std::ops::Range;

/// Deepest nesting accepted (a .torrent needs 4: root, info, files, one file, path).
const MAX_DEPTH: usize = 32;
/// Most values (of any kind) accepted in one document.
const MAX_ELEMENTS: usize = 2_000_000;

#[derive(Debug)]
pub(crate) enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    /// Keys in file order, each with its value and the byte span of that value.
    Dict(Vec<(&'a [u8], Value<'a>, Range<usize>)>),
}

impl<'a> Value<'a> {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.get_with_span(key).map(|(v, _)| v)
    }

    pub(crate) fn get_with_span(&self, key: &[u8]) -> Option<(&Value<'a>, Range<usize>)> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, v, span)| (v, span.clone())),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Bytes(_) => "byte string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }
}

/// Parse one complete document. Trailing bytes are an error.
pub(crate) fn parse(input: &[u8]) -> Result<Value<'_>, String> {
    let mut p = Parser {
        input,
        pos: 0,
        elements: 0,
    };
    let v = p.value(0)?;
    if p.pos != input.len() {
        return Err(format!(
            "{} unexpected bytes after the end at offset {}",
            input.len() - p.pos,
            p.pos
        ));
    }
    Ok(v)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    elements: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(format!("more than {MAX_ELEMENTS} elements"));
        }
        match self.peek() {
            None => Err("unexpected end of input".into()),
            Some(b'i') => {
                self.pos += 1;
                let n = self.int_until(b'e')?;
                Ok(Value::Int(n))
            }
            Some(b'l') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated list".into()),
                        Some(b'e') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        Some(_) => items.push(self.value(depth + 1)?),
                    }
                }
            }
            Some(b'd') => {
                self.pos += 1;
                let mut entries: Vec<(&'a [u8], Value<'a>, Range<usize>)> = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated dictionary".into()),
                        Some(b'e') => {
                            self.pos += 1;
                            return Ok(Value::Dict(entries));
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let key = self.bytes()?;
                            // Keys must be sorted (BEP 3), so a duplicate is always next to
                            // its twin: one comparison per key, never a scan of the others
                            // (that was quadratic: minutes for a 3 MiB dictionary).
                            if let Some((prev, _, _)) = entries.last() {
                                if key <= *prev {
                                    return Err(format!(
                                        "dictionary key {:?} is {} (keys must be unique and sorted)",
                                        String::from_utf8_lossy(key),
                                        if key == *prev { "repeated" } else { "out of order" }
                                    ));
                                }
                            }
                            let start = self.pos;
                            let v = self.value(depth + 1)?;
                            entries.push((key, v, start..self.pos));
                        }
                        Some(c) => {
                            return Err(format!(
                                "dictionary key must be a byte string, found {:?} at offset {}",
                                c as char, self.pos
                            ))
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_digit() => Ok(Value::Bytes(self.bytes()?)),
            Some(c) => Err(format!(
                "unexpected byte {:?} at offset {}",
                c as char, self.pos
            )),
        }
    }

    /// Reads a canonical decimal integer terminated by `end` (consumed).
    fn int_until(&mut self, end: u8) -> Result<i64, String> {
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest
            .iter()
            .position(|&c| c == end)
            .ok_or_else(|| "unterminated integer".to_string())?;
        let digits = &rest[..len];
        let (neg, body) = match digits.first() {
            Some(b'-') => (true, &digits[1..]),
            _ => (false, digits),
        };
        if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
            return Err(format!("malformed integer at offset {start}"));
        }
        if (body.len() > 1 && body[0] == b'0') || (neg && body == b"0") {
            return Err(format!("non-canonical integer at offset {start}"));
        }
        let text = std::str::from_utf8(digits).map_err(|_| "malformed integer".to_string())?;
        let n: i64 = text
            .parse()
            .map_err(|_| format!("integer out of range at offset {start}"))?;
        self.pos = start + len + 1;
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let start = self.pos;
        let n = self.int_until(b':')?;
        let n = usize::try_from(n).map_err(|_| format!("negative length at offset {start}"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| format!("byte string at offset {start} runs past the end"))?;
        let b = &self.input[self.pos..end];
        self.pos = end;
        Ok(b)
    }
}

pub(crate) fn put_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_keeps_spans() {
        let doc = b"d3:bar4:spam4:infod1:ai1eee";
        let v = parse(doc).unwrap();
        let (info, span) = v.get_with_span(b"info").unwrap();
        assert_eq!(&doc[span], b"d1:ai1ee");
        assert!(matches!(info.get(b"a"), Some(Value::Int(1))));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b"i03e"[..],
            b"i-0e",
            b"ie",
            b"i1",
            b"5:ab",
            b"d1:ai1e1:ai2ee",
            b"di1ei2ee",
            b"le extra",
            b"i99999999999999999999e",
            b"x",
            b"",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "l".repeat(100) + &"e".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
        // Keys out of order (BEP 3 wants them sorted as raw bytes).
        assert!(parse(b"d1:bi1e1:ai2ee").is_err());
        assert!(parse(b"d1:ai1e1:bi2ee").is_ok());
    }

    /// A dictionary of 3 MiB (about 190,000 keys) used to take minutes: every key was compared
    /// with every earlier one. Now each is compared with the one before it.
    #[test]
    fn a_large_dictionary_is_read_in_linear_time() {
        let mut doc = b"d".to_vec();
        let mut n = 0u32;
        while doc.len() < 3 << 20 {
            put_bytes(&mut doc, format!("{n:08}").as_bytes());
            put_int(&mut doc, 1);
            n += 1;
        }
        doc.push(b'e');
        let started = std::time::Instant::now();
        match parse(&doc).unwrap() {
            Value::Dict(entries) => assert_eq!(entries.len(), n as usize),
            _ => panic!("not a dictionary"),
        }
        // Generous: linear work takes milliseconds, the quadratic check took minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // The same keys with two swapped are refused, also near the end.
        let mut swapped = doc.clone();
        let at = swapped.len() - 40;
        let k = swapped[at..].iter().position(|b| *b == b':').unwrap() + at + 1;
        swapped[k + 7] = b'0';
        assert!(parse(&swapped).is_err());
    }
}
