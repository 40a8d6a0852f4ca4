//! Just enough of the Kubernetes protobuf encoding to read the bodies kubectl's typed
//! clients send as protobuf and that matter here: `Eviction` (kubectl drain) and
//! `DeleteOptions` (kubectl delete / drain --disable-eviction). Other protobuf bodies are
//! refused with 415; `kubectl create -f`/`apply -f` send JSON anyway.
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

struct Reader<'a> {
    buf: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or("truncated varint")?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                if self.buf.len() < n {
                    return Err("truncated fixed field".into());
                }
                self.buf = &self.buf[n..];
                Field::Fixed
            }
            2 => {
                let n = self.varint()? as usize;
                if self.buf.len() < n {
                    return Err("truncated field".into());
                }
                let (b, rest) = self.buf.split_at(n);
                self.buf = rest;
                Field::Bytes(b)
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

/// ObjectMeta: name (1), generateName (2), namespace (3), uid (5), resourceVersion (6).
fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        let key = match n {
            1 => "name",
            2 => "generateName",
            3 => "namespace",
            5 => "uid",
            6 => "resourceVersion",
            _ => continue,
        };
        if let Field::Bytes(b) = f {
            m.insert(key.into(), json!(string(b)?));
        }
    }
    Ok(Value::Object(m))
}

/// DeleteOptions: gracePeriodSeconds (1), preconditions (2: uid 1, resourceVersion 2),
/// orphanDependents (3), propagationPolicy (4), dryRun (5).
fn delete_options(b: &[u8]) -> Result<Value, String> {
    let mut m = Map::new();
    let mut dry = Vec::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => {
                m.insert("gracePeriodSeconds".into(), json!(v as i64));
            }
            (2, Field::Bytes(p)) => {
                let mut pre = Map::new();
                for (pn, pf) in fields(p)? {
                    if let Field::Bytes(s) = pf {
                        let k = if pn == 1 { "uid" } else { "resourceVersion" };
                        pre.insert(k.into(), json!(string(s)?));
                    }
                }
                m.insert("preconditions".into(), Value::Object(pre));
            }
            (3, Field::Varint(v)) => {
                m.insert("orphanDependents".into(), json!(v != 0));
            }
            (4, Field::Bytes(s)) => {
                m.insert("propagationPolicy".into(), json!(string(s)?));
            }
            (5, Field::Bytes(s)) => dry.push(json!(string(s)?)),
            _ => {}
        }
    }
    if !dry.is_empty() {
        m.insert("dryRun".into(), json!(dry));
    }
    Ok(Value::Object(m))
}

/// Decodes a protobuf request body into its JSON form, for the kinds listed above.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let env = body.strip_prefix(MAGIC).ok_or("missing protobuf magic")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(env)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm)? {
                    if let Field::Bytes(s) = tf {
                        match tn {
                            1 => api_version = string(s)?,
                            2 => kind = string(s)?,
                            _ => {}
                        }
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    match kind.as_str() {
        "Eviction" => {
            let mut e = json!({"apiVersion": api_version, "kind": kind});
            for (n, f) in fields(raw)? {
                if let Field::Bytes(b) = f {
                    match n {
                        1 => e["metadata"] = object_meta(b)?,
                        2 => e["deleteOptions"] = delete_options(b)?,
                        _ => {}
                    }
                }
            }
            Ok(e)
        }
        "DeleteOptions" => {
            let mut d = delete_options(raw)?;
            d["apiVersion"] = json!(api_version);
            d["kind"] = json!(kind);
            Ok(d)
        }
        other => Err(format!(
            "protobuf bodies of kind {other:?} are not supported"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn eviction() {
        let meta = [ld(1, b"web-1"), ld(3, b"default")].concat();
        let opts = [vec![1 << 3, 5], ld(4, b"Background")].concat();
        let raw = [ld(1, &meta), ld(2, &opts)].concat();
        let tm = [ld(1, b"policy/v1"), ld(2, b"Eviction")].concat();
        let body = [MAGIC.to_vec(), ld(1, &tm), ld(2, &raw)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["metadata"]["name"], "web-1");
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(v["deleteOptions"]["gracePeriodSeconds"], 5);
        assert_eq!(v["deleteOptions"]["propagationPolicy"], "Background");
        assert!(decode(b"{}").is_err());
    }
}
