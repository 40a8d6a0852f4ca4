//! Token generation per call: cold (sign every time) and warm (cached). Prints figures;
//! asserts nothing. `cargo bench -p eks-auth --bench token`
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use eks_auth::{EksTokenProvider, StsEndpoint, presign};

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f(); // warm-up
    }
    let mut rounds: Vec<Duration> = (0..7)
        .map(|_| {
            let began = Instant::now();
            for _ in 0..iterations {
                f();
            }
            began.elapsed() / iterations
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

fn main() {
    // `cargo nextest --all-targets` lists every target; this one holds no tests.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let creds = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "SECRET",
        Some("SESSION".into()),
        None,
        "bench",
    );
    let endpoint = StsEndpoint::regional("us-west-2");
    let cold = per_call(20_000, || {
        black_box(presign(&creds, "bench", "us-west-2", &endpoint, SystemTime::now()).unwrap());
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let provider = EksTokenProvider::new(
        "bench",
        "us-west-2",
        endpoint.clone(),
        SharedCredentialsProvider::new(creds.clone()),
    );
    runtime.block_on(provider.token()).unwrap();
    let warm = per_call(200_000, || {
        black_box(runtime.block_on(provider.token()).unwrap());
    });
    println!(
        "| token, cold (presign) | {:.2} µs/call | cargo bench -p eks-auth --bench token |",
        cold.as_secs_f64() * 1e6
    );
    println!(
        "| token, warm (cached) | {:.0} ns/call | cargo bench -p eks-auth --bench token |",
        warm.as_secs_f64() * 1e9
    );
}
