//! One error type for the whole library. Every error about bad input says where the input is wrong: the
//! file, the line and column when known, the YAML field path (`modalities.audio.encoder[3].kernel`) and the
//! graph node, so that a user can fix it without reading our code.

use std::fmt;
use std::path::PathBuf;

/// Where in the user's input a problem sits. Every part is optional because some inputs (a `--set` flag, a
/// graph built in Rust) have no file or line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it (or `<built-in name>` for embedded files).
    pub file: Option<String>,
    /// 1-based line and column.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The YAML path of the offending field, e.g. `modalities.audio.encoder[3].kernel`.
    pub field: Option<String>,
    /// The graph node involved, e.g. `audio/3/conv`.
    pub node: Option<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location { file: Some(file.into()), ..Default::default() }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let f = field.into();
        if !f.is_empty() {
            self.field = Some(f);
        }
        self
    }
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(file) = &self.file {
            let mut s = file.clone();
            if let Some(l) = self.line {
                s.push_str(&format!(":{l}"));
                if let Some(c) = self.column {
                    s.push_str(&format!(":{c}"));
                }
            }
            parts.push(s);
        } else if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(field) = &self.field {
            parts.push(format!("field `{field}`"));
        }
        if let Some(node) = &self.node {
            parts.push(format!("node `{node}`"));
        }
        if parts.is_empty() {
            write!(f, "<input>")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

/// All errors of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    /// A result could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },

    /// The user's input (a YAML file, a `--set` flag, a graph) is wrong at a known place.
    #[error("{at}: {message}")]
    Input { at: Box<Location>, message: String },

    /// A name that refers to nothing we know (a workload, a hardware preset, a device, a runtime).
    #[error("unknown {what} `{name}`; known: {known}")]
    Unknown { what: &'static str, name: String, known: String },

    /// Something the user asked for that this build or machine cannot do.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    pub fn input(at: Location, message: impl Into<String>) -> Self {
        Error::Input { at: Box::new(at), message: message.into() }
    }

    /// An `Unknown` error listing the known names.
    pub fn unknown<I, S>(what: &'static str, name: impl Into<String>, known: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let known: Vec<String> = known.into_iter().map(|s| s.as_ref().to_string()).collect();
        Error::Unknown { what, name: name.into(), known: known.join(", ") }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
