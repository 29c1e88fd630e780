//! Field path → (line, column) index of a YAML text, built from yaml-rust2's marked event stream.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Where each field path of a document starts. Paths look like `modalities.audio.encoder[3].kernel`.
#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    positions: HashMap<String, (usize, usize)>,
}

impl PathIndex {
    /// Indexes `text`. A text that yaml-rust2 cannot parse gives a partial index (positions are a courtesy;
    /// syntax errors are reported by serde_yaml).
    pub fn build(text: &str) -> Self {
        let mut rx = Receiver::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut rx, false);
        PathIndex { positions: rx.positions }
    }

    /// The position of `path`, or of its nearest parent that exists.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
            if p.is_empty() {
                return None;
            }
        }
    }
}

enum Frame {
    /// In a mapping: the path of the mapping, and the pending key (None while waiting for a key).
    Map { path: String, key: Option<String> },
    /// In a sequence: the path of the sequence and the next index.
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
}

impl Receiver {
    /// Called for every node that is a value (not a key). Returns the node's path and records its position.
    fn value_path(&mut self, mark: Marker) -> Option<String> {
        let path = match self.stack.last_mut()? {
            Frame::Map { path, key } => {
                let k = key.take()?;
                super::join_path(path, &k)
            }
            Frame::Seq { path, next } => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.positions.entry(p.clone()).or_insert((mark.line(), mark.col() + 1));
                p
            }
        };
        Some(path)
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // A scalar in key position of a mapping is a key: remember it and where it stands.
        if let (Event::Scalar(s, ..), Some(Frame::Map { path, key: key @ None })) = (&ev, self.stack.last_mut()) {
            let full = super::join_path(path, s);
            self.positions.entry(full).or_insert((mark.line(), mark.col() + 1));
            *key = Some(s.clone());
            return;
        }
        match ev {
            Event::Scalar(..) | Event::Alias(..) => {
                self.value_path(mark);
            }
            Event::MappingStart(..) => {
                let path = if self.stack.is_empty() { String::new() } else { self.value_path(mark).unwrap_or_default() };
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = if self.stack.is_empty() { String::new() } else { self.value_path(mark).unwrap_or_default() };
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let text = "name: x\nmodalities:\n  audio:\n    encoder:\n      - relu\n      - conv2d: {out: 6, kernel: 5}\n";
        let idx = PathIndex::build(text);
        assert_eq!(idx.find("name"), Some((1, 1)));
        assert_eq!(idx.find("modalities.audio"), Some((3, 3)));
        assert_eq!(idx.find("modalities.audio.encoder[0]"), Some((5, 9)));
        assert_eq!(idx.find("modalities.audio.encoder[1].conv2d.kernel").map(|p| p.0), Some(6));
        // A path that does not exist falls back to its parent.
        assert_eq!(idx.find("modalities.audio.encoder[1].conv2d.nothing").map(|p| p.0), Some(6));
        assert_eq!(idx.find("nothing"), None);
    }
}
