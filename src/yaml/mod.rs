//! YAML plumbing shared by the workload and hardware loaders: parsing with positions, mapping a field path back
//! to its line, typed decoding that reports the path of a bad field, and `--set key=value` overrides.
//!
//! serde_yaml's `Value` tree carries no positions, so a second, event-level pass (yaml-rust2's marked parser)
//! records where every field path starts. Errors found later (a shape mismatch in `modalities.audio.encoder[3]`)
//! can then still name the line.

mod locate;
mod set;

pub use locate::PathIndex;
pub use set::{apply_set, parse_set, SetOp};

use crate::error::{Error, Location};
use serde::de::DeserializeOwned;
use serde_yaml::Value;

/// A parsed YAML document with the positions of its fields.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file name as shown to the user.
    pub file: String,
    pub value: Value,
    pub index: PathIndex,
}

impl Document {
    /// Parses `text`, naming `file` in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, Error> {
        crate::input::check_yaml_nesting(file, text)?;
        let value: Value = serde_yaml::from_str(text).map_err(|e| {
            let mut at = Location::file(file);
            if let Some(loc) = e.location() {
                at = at.at(loc.line(), loc.column());
            }
            Error::input(at, format!("malformed YAML: {}", strip_location(&e.to_string())))
        })?;
        let index = PathIndex::build(text);
        Ok(Document { file: file.to_string(), value, index })
    }

    /// The location of a field path (or of its nearest existing parent).
    pub fn locate(&self, field: &str) -> Location {
        let mut at = Location::file(&self.file).field(field);
        if let Some((line, col)) = self.index.find(field) {
            at = at.at(line, col);
        }
        at
    }

    /// An input error at a field path.
    pub fn error(&self, field: &str, message: impl Into<String>) -> Error {
        Error::input(self.locate(field), message)
    }
}

/// Decodes `value` (found at `base` inside `doc`) into `T`, turning a serde error into one that names the file,
/// line and full field path.
pub fn decode<T: DeserializeOwned>(doc: &Document, base: &str, value: &Value) -> Result<T, Error> {
    let de = value.clone();
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let inner = e.path().to_string();
        let field = join_path(base, if inner == "." { "" } else { &inner });
        doc.error(&field, explain_untagged(strip_location(&e.inner().to_string())))
    })
}

/// The forms each field of several forms accepts (an untagged enum of the file formats), with an example:
/// serde's own message when none matched names the Rust type and no form.
const UNTAGGED_FORMS: &[(&str, &str)] = &[
    ("InputDecl", "an input is a shape, `[1, 28, 28]`, or a mapping, `{shape: [15], dtype: i64, batch_axis: 0}`; sizes are non-negative integers or `${param}` expressions that give one"),
    ("SizeOrSizes", "a size here is one non-negative integer for every dimension, `3`, or one per dimension, `[3, 3]`"),
    ("NameOrNames", "this takes one name, `rtx4090`, or a list of names, `[rtx4090, a100]`"),
];

/// serde's "data did not match any variant of untagged enum X" as the forms the field accepts.
pub fn explain_untagged(msg: String) -> String {
    const NO_MATCH: &str = "data did not match any variant of untagged enum ";
    match msg.strip_prefix(NO_MATCH).and_then(|name| UNTAGGED_FORMS.iter().find(|(n, _)| *n == name.trim())) {
        Some((_, forms)) => format!("not a form this field accepts: {forms}"),
        None => msg,
    }
}

/// Joins a base field path and a relative one (`a.b` + `c[2]` = `a.b.c[2]`).
pub fn join_path(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (_, true) => base.to_string(),
        _ if rel.starts_with('[') => format!("{base}{rel}"),
        _ => format!("{base}.{rel}"),
    }
}

/// serde_yaml appends " at line L column C" to messages; we print the position ourselves.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Recursively merges `over` into `base`: mappings merge key by key, anything else is replaced. Used by
/// `extends:` and by workload variants.
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let err = Document::parse("x.yaml", "a: 1\nb: [1, 2\nc: 3\n").unwrap_err().to_string();
        assert!(err.starts_with("x.yaml:"), "{err}");
        assert!(err.contains("malformed YAML"), "{err}");
    }

    #[test]
    fn decode_reports_full_path_and_line() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            kernel: usize,
        }
        let text = "outer:\n  items:\n    - kernel: 3\n    - kernal: 3\n";
        let doc = Document::parse("f.yaml", text).unwrap();
        let v = doc.value["outer"]["items"][1].clone();
        let err = decode::<Inner>(&doc, "outer.items[1]", &v).unwrap_err().to_string();
        assert!(err.contains("f.yaml:4"), "{err}");
        assert!(err.contains("unknown field `kernal`"), "{err}");
    }

    #[test]
    fn deep_merge_overrides_leaves_and_keeps_siblings() {
        let mut a: Value = serde_yaml::from_str("x: {a: 1, b: 2}\ny: 3").unwrap();
        let b: Value = serde_yaml::from_str("x: {b: 5}\nz: 4").unwrap();
        deep_merge(&mut a, &b);
        assert_eq!(a["x"]["a"], Value::from(1));
        assert_eq!(a["x"]["b"], Value::from(5));
        assert_eq!(a["y"], Value::from(3));
        assert_eq!(a["z"], Value::from(4));
    }
}

#[cfg(test)]
mod untagged_tests {
    use super::*;

    /// Every untagged enum of the file formats has its forms in `UNTAGGED_FORMS`, so that no user sees
    /// serde's bare "did not match any variant".
    #[test]
    fn every_untagged_enum_has_its_forms_explained() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        let mut seen = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let mut lines = text.lines();
            while let Some(l) = lines.next() {
                if l.trim() == "#[serde(untagged)]" {
                    let decl = lines.next().unwrap_or_default();
                    let name = decl.trim().trim_start_matches("pub ").strip_prefix("enum ").and_then(|r| r.split_whitespace().next()).unwrap_or(decl);
                    assert!(UNTAGGED_FORMS.iter().any(|(n, _)| *n == name), "{}: untagged enum `{name}` has no forms in UNTAGGED_FORMS", f.display());
                    seen += 1;
                }
            }
        }
        assert!(seen >= 3, "found {seen} untagged enums");
        let msg = explain_untagged("data did not match any variant of untagged enum NameOrNames".into());
        assert!(msg.contains("`[rtx4090, a100]`"), "{msg}");
        assert_eq!(explain_untagged("something else".into()), "something else");
    }
}
