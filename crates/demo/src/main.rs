//! `make demo`: the suite's main job, locally. Starts moto, a real Kubernetes control plane
//! (kube-apiserver, etcd, controller manager, scheduler, KWOK nodes) and the Lambda Runtime
//! API emulator, seeds a small cluster, runs every
//! function through the emulator with the sample events in `events/`, and prints per
//! function the event, what it decided and why, and the state before → after. Everything it
//! started stops when it ends.
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
    println!(
        "\nDone in {:.1} s; stopping everything the demo started.",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
