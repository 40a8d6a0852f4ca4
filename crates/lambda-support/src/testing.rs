//! What the functions' unit tests share: the malformed-input table every EventBridge event
//! decoder of the suite is tested with (one table, so each decoder is held to the same
//! cases), and the check of an error enum's `errorType` names and messages.
//! Used only by tests; the functions' binaries never call it and the linker drops it.
use serde_json::{Value, json};

/// Malformed variants of a valid EventBridge event `sample` (wrong shapes, wrong types,
/// missing fields, huge numbers, nested garbage, odd strings), each with a piece of text its
/// error must contain: the field it names.
pub fn malformed_eventbridge(sample: &Value) -> Vec<(Value, &'static str)> {
    let with = |pointer: &str, value: Value| {
        let mut e = sample.clone();
        *e.pointer_mut(pointer)
            .expect("an EventBridge event has this field") = value;
        e
    };
    let deep = (0..200).fold(json!("x"), |v, _| json!({ "a": [v] }));
    vec![
        (json!({}), "missing field `time`"),
        (json!(null), "invalid type: null"),
        (json!(42), "invalid type: integer `42`"),
        (json!([sample]), "[0]: invalid type: map"),
        (with("/time", json!("yesterday")), "time: "),
        (with("/time", json!(1e308)), "time: "),
        (with("/time", json!(u64::MAX)), "time: "),
        (with("/time", json!(null)), "time: "),
        (
            with("/source", json!(7)),
            "source: invalid type: integer `7`",
        ),
        (
            with("/detail-type", json!(["Scheduled Event"])),
            "detail-type: invalid type: sequence",
        ),
        (
            with("/id", json!({"nested": true})),
            "id: invalid type: map",
        ),
        (
            with("/resources", json!("arn")),
            "resources: invalid type: string",
        ),
        (
            with("/resources", json!([1])),
            "resources[0]: invalid type: integer `1`",
        ),
        (with("/region", deep), "region: invalid type: map"),
        (with("/source", json!("aws.events\u{0}")), "source"),
        (with("/source", json!("")), "source"),
    ]
}

/// The cases `decode` gets wrong: it accepts the input, or its error lacks the expected
/// text. Empty when every case is refused naming its field.
pub fn misjudged<T, E: std::fmt::Display>(
    cases: Vec<(Value, &str)>,
    decode: impl Fn(Value) -> Result<T, E>,
) -> Vec<String> {
    cases
        .into_iter()
        .filter_map(|(input, expected)| match decode(input.clone()) {
            Ok(_) => Some(format!(
                "{input}: accepted, expected an error with {expected:?}"
            )),
            Err(e) => {
                let err = e.to_string();
                (!err.contains(expected)).then(|| format!("{input}: {err:?} lacks {expected:?}"))
            }
        })
        .collect()
}
/// Each error of `table` is reported under its `errorType` with its message, as given: the
/// table test of every function's error enum.
pub fn assert_reported<E: crate::ErrorType>(
    table: impl IntoIterator<Item = (E, &'static str, &'static str)>,
) {
    for (error, error_type, message) in table {
        assert_eq!(
            (error.error_type(), error.to_string().as_str()),
            (error_type, message)
        );
    }
}
