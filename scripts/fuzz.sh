#!/usr/bin/env bash
# `make fuzz`: every event decoder and custom-resource parser (fuzz/fuzz_targets) fuzzed with
# cargo-fuzz (libFuzzer) on the nightly toolchain for FUZZ_SECONDS each (default 30), from
# seed corpora made of events/<function>/*.json and infra/k8s/samples/*.yaml. Prints, per
# target, the executions run and the crashes found; exits non-zero when any target crashed.
#
#   make fuzz                               every target, 30 s each
#   FUZZ_SECONDS=300 make fuzz              longer
#   FUZZ_TARGETS="event_iam_sync" make fuzz one target
#
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
#   cargo +nightly fuzz run --sanitizer none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.1
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
# Safe Rust only: a crash is a panic (overflow checks on, see fuzz/Cargo.toml), which
# libFuzzer catches without AddressSanitizer, and the build is much shorter without it.
SANITIZER=${FUZZ_SANITIZER:-none}

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
rustup toolchain list | grep -q "^$TOOLCHAIN" || rustup toolchain install "$TOOLCHAIN" --profile minimal

targets=${FUZZ_TARGETS:-$(cargo +"$TOOLCHAIN" fuzz list)}

cd fuzz

# Seeds: the sample events of each function, and the sample custom resources as JSON (what
# the API server returns); the alarm configs they embed seed the alarm-config target.
seed() { mkdir -p "corpus/$1"; }
for f in alarm-scaler alarm-sync iam-sync concurrency-scaler queue-scaler; do
  t=event_${f//-/_}
  seed "$t"
  cp ../events/"$f"/*.json "corpus/$t/"
done
for t in cr_k8s_metric_alarm cr_alarm_config cr_lambda_concurrency_scaler cr_sqs_queue_scaler \
  cr_iam_user_group iam_sync_configmaps; do
  seed "$t"
done
python3 - <<'EOF'
import glob, json, os, yaml

by_kind = {
    "K8sMetricAlarm": "cr_k8s_metric_alarm",
    "LambdaConcurrencyScaler": "cr_lambda_concurrency_scaler",
    "SqsQueueScaler": "cr_sqs_queue_scaler",
    "IamUserGroup": "cr_iam_user_group",
}
for path in sorted(glob.glob("../infra/k8s/samples/*.yaml")):
    base = os.path.basename(path)[: -len(".yaml")]
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        if kind in by_kind:
            with open(f"corpus/{by_kind[kind]}/{base}-{i}.json", "w") as out:
                json.dump(doc, out)
        if kind == "K8sMetricAlarm":
            for key in ("scaleUpAlarmConfig", "scaleDownAlarmConfig"):
                config = doc.get("spec", {}).get(key)
                if config:
                    with open(f"corpus/cr_alarm_config/{base}-{i}-{key}.json", "w") as out:
                        out.write(config)
        if kind == "ConfigMap":
            for key, text in (doc.get("data") or {}).items():
                with open(f"corpus/iam_sync_configmaps/{base}-{i}-{key}.yaml", "w") as out:
                    out.write(text)
EOF
# aws-auth's mapUsers, as iam-sync edits it.
cat >corpus/iam_sync_configmaps/aws-auth-mapUsers.yaml <<'EOF'
- userarn: arn:aws:iam::111122223333:user/alice@example.com
  username: alice
  groups:
  - dev-readers
EOF
cd ..

# One build for every target, then each runs from it.
cargo +"$TOOLCHAIN" fuzz build --sanitizer "$SANITIZER"

results=()
failed=0
for t in $targets; do
  log=$(mktemp)
  echo "fuzz: $t for ${FUZZ_SECONDS}s" >&2
  set +e
  cargo +"$TOOLCHAIN" fuzz run --sanitizer "$SANITIZER" "$t" -- \
    -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) -newer "$log" 2>/dev/null | wc -l)
  if ((rc != 0)) && ((crashes == 0)); then crashes=1; fi
  if ((crashes > 0)); then
    failed=1
    grep -E "panicked|ERROR: libFuzzer|Test unit written" "$log" | head -5 >&2 || true
  fi
  results+=("$t ${execs:-0} $crashes")
  rm -f "$log"
done

printf '\n%-32s %12s %8s   (budget %ss per target)\n' target executions crashes "$FUZZ_SECONDS"
for r in "${results[@]}"; do
  # shellcheck disable=SC2086
  printf '%-32s %12s %8s\n' $r
done
exit "$failed"
