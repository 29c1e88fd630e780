//! `--set key=value` overrides on a YAML value tree, absolute (`gpu.mem_bw_gbs=6000`) or relative
//! (`gpu.mem_bw_gbs=*2`, `=/2`, `=+10`). The value is read as YAML, so lists work too (`input=[1, 64, 64]`).

use serde_yaml::Value;

/// What a `--set` does to the field.
#[derive(Debug, Clone, PartialEq)]
pub enum SetOp {
    Assign(Value),
    Multiply(f64),
    Divide(f64),
    Add(f64),
}

/// Splits `key=value` into the key path and the operation.
pub fn parse_set(arg: &str) -> Result<(String, SetOp), String> {
    let (key, raw) = arg.split_once('=').ok_or_else(|| format!("`--set {arg}`: expected KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`--set {arg}`: the key is empty"));
    }
    let raw = raw.trim();
    let number = |s: &str| -> Result<f64, String> {
        s.trim().parse::<f64>().map_err(|_| format!("`--set {arg}`: `{s}` is not a number"))
    };
    let op = if let Some(r) = raw.strip_prefix('*') {
        SetOp::Multiply(number(r)?)
    } else if let Some(r) = raw.strip_prefix('/') {
        let d = number(r)?;
        if d == 0.0 {
            return Err(format!("`--set {arg}`: division by zero"));
        }
        SetOp::Divide(d)
    } else if let Some(r) = raw.strip_prefix('+') {
        SetOp::Add(number(r)?)
    } else {
        SetOp::Assign(serde_yaml::from_str(raw).map_err(|e| format!("`--set {arg}`: bad value: {e}"))?)
    };
    Ok((key.to_string(), op))
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        } else if rest.is_empty() {
            return Err(format!("empty segment in `{path}`"));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let i = r[..end].parse::<usize>().map_err(|_| format!("bad index `{}` in `{path}`", &r[..end]))?;
            out.push(Seg::Index(i));
            rest = &r[end + 1..];
        }
    }
    Ok(out)
}

/// Applies one override to `root`. Missing mapping keys are created (the typed decoding that follows rejects
/// fields that do not exist); relative operations need an existing number.
pub fn apply_set(root: &mut Value, path: &str, op: &SetOp) -> Result<(), String> {
    let segs = segments(path)?;
    let mut cur = root;
    for seg in &segs {
        cur = match seg {
            Seg::Key(k) => {
                if cur.is_null() {
                    *cur = Value::Mapping(Default::default());
                }
                let map = cur.as_mapping_mut().ok_or_else(|| format!("`{path}`: `{k}` is inside something that is not a mapping"))?;
                map.entry(Value::String(k.clone())).or_insert(Value::Null)
            }
            Seg::Index(i) => {
                let seq = cur.as_sequence_mut().ok_or_else(|| format!("`{path}`: [{i}] applied to something that is not a list"))?;
                let len = seq.len();
                seq.get_mut(*i).ok_or_else(|| format!("`{path}`: index {i} out of range (the list has {len} items)"))?
            }
        };
    }
    let relative = |cur: &Value, f: &dyn Fn(f64) -> f64| -> Result<Value, String> {
        let x = cur.as_f64().ok_or_else(|| format!("`{path}`: a relative change needs an existing number, found {}", describe(cur)))?;
        let y = f(x);
        // Keep integers integral when the result is one, so integer fields still decode.
        if cur.is_u64() && y >= 0.0 && y.fract() == 0.0 && y < u64::MAX as f64 {
            Ok(Value::from(y as u64))
        } else {
            Ok(Value::from(y))
        }
    };
    let new = match op {
        SetOp::Assign(v) => v.clone(),
        SetOp::Multiply(m) => relative(cur, &|x| x * m)?,
        SetOp::Divide(d) => relative(cur, &|x| x / d)?,
        SetOp::Add(a) => relative(cur, &|x| x + a)?,
    };
    *cur = new;
    Ok(())
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(_) => "a tagged value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml::from_str("devices:\n  gpu:\n    mem_bw_gbs: 1555\n    units: 108\nlist: [1, 2, 3]").unwrap()
    }

    #[test]
    fn absolute_and_relative_overrides() {
        let mut v = doc();
        let (k, op) = parse_set("devices.gpu.mem_bw_gbs=*2").unwrap();
        apply_set(&mut v, &k, &op).unwrap();
        assert_eq!(v["devices"]["gpu"]["mem_bw_gbs"].as_u64(), Some(3110));
        let (k, op) = parse_set("devices.gpu.units=/4").unwrap();
        apply_set(&mut v, &k, &op).unwrap();
        assert_eq!(v["devices"]["gpu"]["units"].as_u64(), Some(27));
        let (k, op) = parse_set("list[1]=7.5").unwrap();
        apply_set(&mut v, &k, &op).unwrap();
        assert_eq!(v["list"][1].as_f64(), Some(7.5));
        let (k, op) = parse_set("new.field=[1, 64]").unwrap();
        apply_set(&mut v, &k, &op).unwrap();
        assert_eq!(v["new"]["field"][1].as_u64(), Some(64));
    }

    #[test]
    fn bad_overrides_are_explained() {
        assert!(parse_set("novalue").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_set("a=*x").unwrap_err().contains("not a number"));
        assert!(parse_set("a=/0").unwrap_err().contains("division by zero"));
        let mut v = doc();
        let (k, op) = parse_set("list[9]=1").unwrap();
        assert!(apply_set(&mut v, &k, &op).unwrap_err().contains("out of range"));
        let (k, op) = parse_set("devices.missing=*2").unwrap();
        assert!(apply_set(&mut v, &k, &op).unwrap_err().contains("existing number"));
    }
}
