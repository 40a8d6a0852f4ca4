//! A real Prometheus: backfilled from OpenMetrics (queried at explicit times, subqueries
//! included) and scraping a test exporter.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use testbed::harness::{Prometheus, http_get};

/// `busy` is 0 until t0+120, then 1 every 15 s: "pending for 180 s" becomes true at t0+300.
fn series(t0: u64) -> String {
    let mut om = String::from("# HELP busy Test gauge.\n# TYPE busy gauge\n");
    for i in 0..=40u64 {
        let t = t0 + i * 15;
        let v = u64::from(t >= t0 + 120);
        om.push_str(&format!("busy{{pod=\"a\"}} {v} {t}\n"));
        om.push_str(&format!("busy{{pod=\"b\"}} 0 {t}\n"));
    }
    om
}

fn scalar(data: &serde_json::Value) -> f64 {
    let result = data["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{data}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn backfilled_series_are_queryable_in_the_past() {
    let t0 = 1_700_000_000u64;
    let prom = Prometheus::start_backfilled(&series(t0)).unwrap();
    assert!(prom.url().starts_with("http://127.0.0.1:"));

    let at = |t: u64, q: &str| prom.query_at(q, t as f64).unwrap();
    assert_eq!(scalar(&at(t0 + 60, "sum(busy)")), 0.0);
    assert_eq!(scalar(&at(t0 + 150, "sum(busy)")), 1.0);
    assert_eq!(scalar(&at(t0 + 150, "busy{pod=\"b\"}")), 0.0);

    let pending = "avg_over_time((sum(busy) > bool 0)[180s:15s])";
    // 180 s window, 15 s steps, aligned: 12 or 13 points depending on the boundary.
    let before = scalar(&at(t0 + 240, pending));
    assert!(before > 0.0 && before < 1.0, "{before}");
    assert_eq!(scalar(&at(t0 + 300, pending)), 1.0);
    assert_eq!(scalar(&at(t0 + 600, pending)), 1.0);
    assert_eq!(scalar(&at(t0 + 100, pending)), 0.0);

    // An invalid query is an error, not an empty result.
    assert!(prom.query_at("sum(", t0 as f64).is_err());

    // The data directory goes with it.
    let dir = prom.dir().to_owned();
    assert!(dir.join("tsdb").is_dir());
    drop(prom);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn bad_openmetrics_is_a_clear_error() {
    let err = Prometheus::start_backfilled("busy{pod=\"a\" 1 1700000000\n")
        .err()
        .expect("malformed OpenMetrics");
    assert!(err.to_string().contains("promtool"), "{err}");
}

/// A one-route exporter: answers every request with `text`.
fn exporter(text: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    url
}

#[test]
fn scrapes_a_test_exporter() {
    let target = exporter("# TYPE queue_depth gauge\nqueue_depth{queue=\"jobs\"} 42\n");
    let prom = Prometheus::start_scraping(&target).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let data = prom.query_at("queue_depth", now).unwrap();
        if !data["result"].as_array().unwrap().is_empty() {
            assert_eq!(scalar(&data), 42.0);
            assert_eq!(data["result"][0]["metric"]["job"], "test");
            break;
        }
        assert!(
            Instant::now() < until,
            "no sample scraped; {}",
            prom.output_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = http_get(&format!("{}/api/v1/targets", prom.url())).unwrap();
    assert_eq!(status, 200);
}
