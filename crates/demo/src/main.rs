//! `make demo`: the suite's main job, locally. Starts moto, a real Kubernetes control plane
//! (kube-apiserver, etcd, controller manager, scheduler, KWOK nodes) and the Lambda Runtime
//! API emulator, seeds a small cluster, runs every
//! function through the emulator with the sample events in `events/`, and prints per
//! function the event, what it decided and why, and the state before → after; at the end the
//! metrics each function emitted, as a table and as the dashboard's graphs (SVG). Everything
//! it started stops when it ends.
use demo::stage::{Error, Stage};
use demo::{FUNCTIONS, steps};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("demo failed: {e}\n{e:?}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let began = std::time::Instant::now();
    println!("Starting moto, the Kubernetes control plane and the Lambda emulator…");
    let mut w = Stage::start(&FUNCTIONS).await?;
    println!(
        "  moto {}, API server {} (cluster {}, EKS tokens verified through moto's STS), emulator :{}",
        w.world.moto.endpoint(),
        w.world.cluster.url(),
        testbed::world::CLUSTER,
        w.world.emulator.port()
    );
    if let (Ok(dir), Ok(runner)) = (
        std::env::var("SUITE_FUNCTION_DIR"),
        std::env::var("SUITE_FUNCTION_RUNNER"),
    ) {
        println!("  functions: the binaries of {dir}, each run under {runner}");
    }
    steps::alarms::run(&mut w).await?;
    steps::queues::run(&mut w).await?;
    steps::iam::run(&mut w).await?;
    let nodes = steps::nodes::run().await?;
    let (lines, secrets, mut found) = w.secrets_in_logs();
    // node-autoscaler's service-account and k3s join tokens, in its own logs.
    let (tokens, logs) = nodes.split_at(2);
    found += tokens
        .iter()
        .filter(|t| logs[0].contains(t.as_str()))
        .count();
    let (lines, secrets) = (lines + logs[0].lines().count(), secrets + tokens.len());
    println!(
        "\nSecrets check: {lines} log lines of the functions searched for the {secrets} credentials and tokens they were given: {found} found."
    );
    if found > 0 {
        return Err("a credential reached a function's log".into());
    }
    show_metrics()?;
    println!(
        "\nDone in {:.1} s; stopping everything the demo started.",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The metrics every function emitted (its EMF lines), as a table, and the dashboard's
/// graphs for this run as SVG images in `DEMO_OUTPUT_DIR` (default `target/demo`).
fn show_metrics() -> Result<(), Error> {
    let samples = demo::metrics::collect(&testbed::harness::process::outputs())?;
    println!(
        "\nMetrics the functions emitted (EMF records on their stdout, checked against the specification):"
    );
    print!("{}", demo::metrics::table(&samples));
    let dir = std::env::var_os("DEMO_OUTPUT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| testbed::world::repo("target/demo"));
    let written = demo::metrics::write_graphs(&samples, &dir)?;
    println!("Dashboard graphs of this run:");
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
}
