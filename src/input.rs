//! One way in for every file mmbench reads from its users (workloads, hardware descriptions, sweep specs,
//! saved runs, raw calibrations, sweep CSVs): bounded in size, decoded as UTF-8 with the byte offset of a bad
//! byte, a UTF-8 byte-order mark dropped, and YAML's flow nesting bounded before a parser recurses into it.
//!
//! Why bounded: a path may name a pipe or a device file that never ends (`/dev/zero`, a FIFO a process keeps
//! writing), which read whole would fill memory. The limit is far above any real input and low enough that
//! such a file is refused in well under a second; `MMBENCH_MAX_INPUT_BYTES` raises it.

use crate::error::{Error, Location, Result};
use std::io::Read;
use std::path::Path;

/// Bytes a file may hold unless [`MAX_INPUT_ENV`] says otherwise: 64 MiB. The largest input in the
/// repository, a saved TransFuser run at batch 32, is 5 MB; workloads and descriptions are kilobytes.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 20;

/// The environment variable that sets the limit, in bytes.
pub const MAX_INPUT_ENV: &str = "MMBENCH_MAX_INPUT_BYTES";

/// Most levels of `[` and `{` inside each other a YAML file may nest. mmbench's files nest a handful; a YAML
/// parser recurses per level, and libyaml's scanner takes seconds over a document of thousands of unclosed
/// levels before its own limit (128) refuses it.
pub const MAX_FLOW_NESTING: usize = 64;

/// The size limit in force: [`MAX_INPUT_ENV`] when set, else [`DEFAULT_MAX_INPUT_BYTES`].
pub fn max_input_bytes() -> Result<u64> {
    match std::env::var(MAX_INPUT_ENV) {
        Err(_) => Ok(DEFAULT_MAX_INPUT_BYTES),
        Ok(v) => v.trim().parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
            Error::input(Location::default(), format!("{MAX_INPUT_ENV}=`{v}` is not a positive number of bytes (for example {MAX_INPUT_ENV}=268435456 for 256 MiB)"))
        }),
    }
}

/// The bytes of `path`, at most the limit: a larger file, or a pipe or device that goes on past it, is an
/// error naming the file and the limit. Only up to one byte past the limit is ever read.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let limit = max_input_bytes()?;
    let file = std::fs::File::open(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    if bytes.len() as u64 > limit {
        return Err(Error::input(
            Location::file(path.display().to_string()),
            format!("the file is larger than mmbench's input limit of {limit} bytes (or never ends: a pipe or a device); set {MAX_INPUT_ENV} to raise the limit"),
        ));
    }
    Ok(bytes)
}

/// The text of `path` ([`read_bytes`]), as UTF-8 without a leading byte-order mark. Invalid UTF-8 is an error
/// naming its byte offset, line and column.
pub fn read_text(path: &Path) -> Result<String> {
    decode_utf8(&path.display().to_string(), read_bytes(path)?)
}

/// `bytes` as UTF-8 text without a leading byte-order mark (Windows editors write one); `file` names the
/// input in the error.
pub fn decode_utf8(file: &str, mut bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        Error::input(Location::file(file).at(line, column), format!("not UTF-8: byte 0x{:02x} at byte offset {offset} is not valid UTF-8 (save the file as UTF-8)", bytes[offset]))
    })
}

/// Refuses YAML whose flow collections (`[`, `{`) nest deeper than [`MAX_FLOW_NESTING`], naming where, in
/// one linear pass before any parser sees it. Brackets inside quotes and comments do not count, nor do
/// brackets inside a plain scalar (`a[0]`): only one that starts a token opens a level.
pub fn check_yaml_nesting(file: &str, text: &str) -> Result<()> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = ' ';
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        column += 1;
        if ch == '\n' {
            (line, column, comment) = (line + 1, 0, false);
            prev = ' ';
            continue;
        }
        match quote {
            Some('"') if ch == '\\' => {
                chars.next();
                column += 1;
                continue;
            }
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if comment => {}
            None => match ch {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if starts_token(prev) => quote = Some(ch),
                '[' | '{' if starts_token(prev) => {
                    depth += 1;
                    if depth > MAX_FLOW_NESTING {
                        return Err(Error::input(
                            Location::file(file).at(line, column),
                            format!("malformed YAML: lists and mappings nest more than {MAX_FLOW_NESTING} levels deep (`[` and `{{` inside each other)"),
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = ch;
    }
    Ok(())
}

/// Whether a character after `prev` starts a YAML token (a flow collection or a quoted scalar) rather than
/// continuing a plain scalar.
fn starts_token(prev: char) -> bool {
    prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-' | '?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(decode_utf8("f", b"\xEF\xBB\xBFa: 1".to_vec()).unwrap(), "a: 1");
        assert_eq!(decode_utf8("f", b"a: 1".to_vec()).unwrap(), "a: 1");
    }

    #[test]
    fn invalid_utf8_names_its_offset_line_and_column() {
        let e = decode_utf8("w.yaml", b"a: 1\nbb: \xFF\n".to_vec()).unwrap_err().to_string();
        assert!(e.contains("w.yaml:2:5") && e.contains("byte offset 9") && e.contains("0xff"), "{e}");
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_passes_the_limit() {
        let deep = format!("a: {}{}", "[".repeat(1000), "]".repeat(1000));
        let e = check_yaml_nesting("d.yaml", &deep).unwrap_err().to_string();
        assert!(e.contains(&format!("d.yaml:1:{}", 3 + MAX_FLOW_NESTING + 1)), "{e}");
        // Within the limit, and brackets that open no level: in quotes, comments and plain scalars.
        let fine = format!("a: {}{}\nb: \"[[[[\" # {{{{{{{{\nc: x[0][1][2]\nd: '{}'\n", "[".repeat(MAX_FLOW_NESTING), "]".repeat(MAX_FLOW_NESTING), "[".repeat(200));
        check_yaml_nesting("f.yaml", &fine).unwrap();
        // Levels close again: many shallow lists in a row are fine.
        check_yaml_nesting("f.yaml", &"x: [[1], [2]]\n".repeat(1000)).unwrap();
    }

    #[test]
    fn a_file_past_the_limit_is_refused_without_reading_it_all() {
        let dir = std::env::temp_dir().join(format!("mmbench-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.yaml");
        std::fs::write(&small, "a: 1\n").unwrap();
        assert_eq!(read_text(&small).unwrap(), "a: 1\n");
        assert!(read_bytes(&dir.join("missing.yaml")).unwrap_err().to_string().contains("missing.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
