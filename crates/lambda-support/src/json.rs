//! Event JSON into typed events, with errors that name the field that failed:
//! `Records[0].Sns.Timestamp: input contains invalid characters`. A failure at the top level
//! (`missing field `Records``) is serde's message alone.
use serde::de::DeserializeOwned;

/// `value` as a `T`; the error names the field (see the module's docs).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| with_path(e.path(), e.inner()))
}

/// `text` (JSON) as a `T`; the error names the field (see the module's docs).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| with_path(e.path(), e.inner()))
}

fn with_path(path: &serde_path_to_error::Path, error: &serde_json::Error) -> String {
    match path.to_string().as_str() {
        "" | "." => error.to_string(),
        path => format!("{path}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(rename = "Records")]
        records: Vec<Inner>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn errors_name_the_field() {
        let err = from_value::<Outer>(json!({"Records": [{"n": 1}, {"n": 300}]})).unwrap_err();
        assert!(
            err.starts_with("Records[1].n: invalid value: integer `300`"),
            "{err}"
        );
        let err = from_value::<Outer>(json!({})).unwrap_err();
        assert_eq!(err, "missing field `Records`");
        let err = from_str::<Outer>(r#"{"Records": [{"n": "x"}]}"#).unwrap_err();
        assert!(
            err.starts_with("Records[0].n: invalid type: string \"x\""),
            "{err}"
        );
    }
}
