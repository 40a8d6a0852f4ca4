//! `make link-order`'s pure part: from what callgrind saw run to the linker script that puts it
//! together (the process part is crates/testbed/src/bin/link-order.rs).
use std::collections::BTreeSet;

/// Every function a callgrind profile names: `fn=(id) name` and `cfn=(id) name` (the name
/// comes once, with its first id; later lines repeat only the id).
pub fn functions_named(profile: &str) -> BTreeSet<String> {
    profile
        .lines()
        .filter_map(|l| l.strip_prefix("fn=(").or_else(|| l.strip_prefix("cfn=(")))
        .filter_map(|l| l.split_once(") "))
        .map(|(_, name)| name.to_string())
        .collect()
}

/// The input-section pattern of a function: `.text.<symbol>` (rustc and the `cc` crate emit
/// one section per function), also under LLVM's `.text.unlikely.` / `.text.hot.` prefixes,
/// with every v0 crate disambiguator (`Cs<hash>_`) and back-reference (`B<offset>_`, which
/// moves when a hash's length does) globbed.
pub fn section_pattern(symbol: &str) -> String {
    format!(".text*.{}", glob_hashes(symbol))
}

fn glob_hashes(symbol: &str) -> String {
    if !symbol.starts_with("_R") {
        return symbol.to_string(); // C (and legacy-mangled) names carry no crate hash
    }
    let b = symbol.as_bytes();
    let mut out = String::with_capacity(symbol.len());
    let mut i = 0;
    while i < b.len() {
        let marker = match (b[i], b.get(i + 1)) {
            (b'C', Some(b's')) => Some(("C*", i + 2)),
            (b'B', Some(c)) if c.is_ascii_alphanumeric() || *c == b'_' => Some(("B*_", i + 1)),
            _ => None,
        };
        if let Some((glob, start)) = marker {
            let base62 = b[start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            if b.get(start + base62) == Some(&b'_') {
                out.push_str(glob);
                i = start + base62 + 1;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// A Rust symbol in the legacy mangling (`_ZN…17h<16 hex digits>E`): its hash covers the
/// crate's build settings, so no pattern made from it matches another build's code.
/// `.cargo/config.toml` has every crate mangled v0, whose hashes [`section_pattern`] globs.
pub fn is_legacy_rust(symbol: &str) -> bool {
    let Some(rest) = symbol.strip_prefix("_ZN") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() >= 20
        && b.ends_with(b"E")
        && &b[b.len() - 20..b.len() - 17] == b"17h"
        && b[b.len() - 17..b.len() - 1]
            .iter()
            .all(u8::is_ascii_hexdigit)
}

pub fn script(patterns: &BTreeSet<String>) -> String {
    let mut s = String::from(
        "/* Made by `make link-order` (crates/testbed/src/bin/link-order.rs); linked into every\n   \
         function binary by link/build.rs. The code the six functions run from spawn to their\n   \
         first Runtime API poll, placed together ahead of .text, so that init maps few pages\n   \
         (BENCHMARKS.md, \"Peak RSS: init code together\"). Crate hashes are globbed. */\n\
         SECTIONS\n{\n  .text.init :\n  {\n",
    );
    for p in patterns {
        s.push_str(&format!("    *({p})\n"));
    }
    s.push_str("  }\n}\nINSERT BEFORE .text;\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_hashes_and_back_references_are_globbed() {
        for (symbol, pattern) in [
            (
                "_RNvNtCsjrHSEGnQ3l9_3std2rt10lang_start",
                "_RNvNtC*3std2rt10lang_start",
            ),
            (
                "_RINvNtCs1234_4core3ptr13drop_in_placeNtCsAb_5tokio7RuntimeEB4_",
                "_RINvNtC*4core3ptr13drop_in_placeNtC*5tokio7RuntimeEB*_",
            ),
            ("memcpy", "memcpy"),
            ("_ZN3foo3barE", "_ZN3foo3barE"),
        ] {
            assert_eq!(glob_hashes(symbol), pattern, "{symbol}");
        }
    }

    #[test]
    fn legacy_rust_names_are_told_apart() {
        for (symbol, legacy) in [
            ("_ZN9sqs_depth4pass4Pass3new17he076408cf7e751b7E", true),
            ("_ZN3foo3barE", false),
            ("_ZN3foo3bar17hnothexnothexnothE", false),
            ("_RNvNtCsjrHSEGnQ3l9_3std2rt10lang_start", false),
            ("memcpy", false),
        ] {
            assert_eq!(is_legacy_rust(symbol), legacy, "{symbol}");
        }
    }

    #[test]
    fn callgrind_names_are_read_once_each() {
        let profile = "fn=(1) main\ncfn=(2) _RNv3foo\ncalls=1 0\nfn=(1)\ncfn=(2)\nfn=(3) bar\n";
        let names: Vec<String> = functions_named(profile).into_iter().collect();
        assert_eq!(names, ["_RNv3foo", "bar", "main"]);
    }
}
