//! The deployment recipes (docs/deployment.md) hold together: every Kubernetes manifest
//! parses and has the kinds and fields the recipe relies on (workers run `fleet run`, the
//! Job `fleet migrate`, the PodDisruptionBudget selects the workers, secrets only come from
//! Secrets, the ConfigMap's pair files load and name only variables the Secret has); the
//! systemd units pass `systemd-analyze verify` where it exists and start commands and
//! options the binary has; the Dockerfile builds without the sandbox and runs as non-root.
//! No cluster, daemon or image build is needed: what cannot be checked here is listed in
//! docs/deployment.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------- Kubernetes

/// Every document of every manifest, with the file it came from.
fn manifests() -> Vec<(PathBuf, Value)> {
    let paths = files("deploy/kubernetes", "yaml");
    assert!(!paths.is_empty(), "no manifests under deploy/kubernetes");
    let mut docs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let parsed: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        for doc in parsed.into_iter().filter(|d| !d.is_null()) {
            docs.push((path.clone(), doc));
        }
    }
    docs
}

fn one_of_kind<'a>(docs: &'a [(PathBuf, Value)], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

fn args(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every container of a pod spec, init containers first.
fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod[*k].as_array())
        .flatten()
        .collect()
}

#[test]
fn every_manifest_document_is_a_kubernetes_object_of_an_expected_kind() {
    let docs = manifests();
    let mut kinds = BTreeSet::new();
    for (path, doc) in &docs {
        let at = path.display();
        for key in ["apiVersion", "kind"] {
            assert!(
                doc[key].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: {key}"
            );
        }
        assert!(
            doc.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "{at}: metadata.name"
        );
        assert_eq!(
            doc.pointer("/metadata/labels/app.kubernetes.io~1name"),
            Some(&Value::from("sheetsync")),
            "{at}: every object carries the app label"
        );
        kinds.insert(format!(
            "{}/{}",
            doc["apiVersion"].as_str().unwrap_or_default(),
            doc["kind"].as_str().unwrap_or_default()
        ));
    }
    let expected: BTreeSet<String> = [
        "apps/v1/Deployment",
        "batch/v1/Job",
        "policy/v1/PodDisruptionBudget",
        "v1/ConfigMap",
        "v1/Secret",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, expected);
}

#[test]
fn the_deployment_runs_fleet_workers_that_stop_gracefully() {
    let docs = manifests();
    let deployment = one_of_kind(&docs, "Deployment");
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&Value::from(3)));
    let pod = &deployment["spec"]["template"]["spec"];
    let [worker] = containers(pod)[..] else {
        panic!("one worker container: {pod}");
    };
    let args = args(worker);
    assert_eq!(args[..2], ["fleet", "run"], "{args:?}");
    // The worker's id is the pod's name, from the downward API.
    let id = args
        .iter()
        .position(|a| *a == "--replica-id")
        .expect("--replica-id");
    assert_eq!(args[id + 1], "$(POD_NAME)");
    let env = worker["env"].as_array().expect("env");
    let pod_name = env
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .expect("POD_NAME");
    assert_eq!(
        str_at(pod_name, "/valueFrom/fieldRef/fieldPath"),
        "metadata.name"
    );

    // SIGTERM drains the pairs within a bounded time: the grace period covers it, and
    // the lease TTL the worker is given, so a clean stop releases rather than expires.
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period");
    let drain = sheetsync::fleet::worker::DRAIN_DEADLINE + sheetsync::fleet::worker::DRAIN_GRACE;
    assert!(
        grace > drain.as_secs(),
        "terminationGracePeriodSeconds {grace}"
    );
    let ttl = args
        .iter()
        .position(|a| *a == "--lease-ttl")
        .expect("--lease-ttl");
    let ttl = humantime::parse_duration(args[ttl + 1]).expect("ttl");
    assert!(grace > ttl.as_secs());

    assert!(
        worker.pointer("/livenessProbe/exec/command").is_some(),
        "liveness"
    );
    for key in [
        "/resources/requests/cpu",
        "/resources/requests/memory",
        "/resources/limits/memory",
    ] {
        assert!(worker.pointer(key).is_some(), "{key}");
    }
    assert_eq!(
        pod.pointer("/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        worker.pointer("/securityContext/allowPrivilegeEscalation"),
        Some(&Value::Bool(false))
    );
    // The shared state's URL (it holds the database password) comes from a Secret.
    let url = env
        .iter()
        .find(|e| e["name"] == "SHEETSYNC_STATE_URL")
        .expect("state URL");
    assert!(
        url.pointer("/valueFrom/secretKeyRef/name").is_some(),
        "{url}"
    );
}

#[test]
fn the_job_migrates_before_it_applies_the_pairs_of_the_configmap() {
    let docs = manifests();
    let job = one_of_kind(&docs, "Job");
    let pod = &job["spec"]["template"]["spec"];
    assert!(matches!(
        str_at(pod, "/restartPolicy"),
        "Never" | "OnFailure"
    ));
    let all = containers(pod);
    let runs: Vec<Vec<&str>> = all.iter().map(|c| args(c)).collect();
    assert_eq!(runs[0], ["fleet", "migrate"], "migrate first: {runs:?}");
    // The rest run after the init container: `fleet apply` of the mounted ConfigMap.
    let apply = all
        .iter()
        .find(|c| args(c)[..2] == ["fleet", "apply"])
        .expect("a fleet apply container");
    let dir = args(apply)[2];
    let mount = apply["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["mountPath"] == dir))
        .expect("the pair directory is mounted");
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == mount["name"]))
        .expect("its volume");
    let configmap = one_of_kind(&docs, "ConfigMap");
    assert_eq!(
        volume.pointer("/configMap/name"),
        configmap.pointer("/metadata/name")
    );
    for c in all {
        let url = c["env"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["name"] == "SHEETSYNC_STATE_URL"))
            .expect("state URL");
        assert!(url.pointer("/valueFrom/secretKeyRef").is_some());
    }
}

#[test]
fn the_disruption_budget_selects_the_workers() {
    let docs = manifests();
    let deployment = one_of_kind(&docs, "Deployment");
    let pdb = one_of_kind(&docs, "PodDisruptionBudget");
    let selector = pdb
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .expect("matchLabels");
    assert!(!selector.is_empty());
    let labels = deployment
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .expect("pod labels");
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the PDB's {k} is not on the workers"
        );
    }
    // And not the migrate Job's pods: a budget over them would block drains for nothing.
    let job = one_of_kind(&docs, "Job");
    let job_labels = job
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .expect("job labels");
    assert!(selector.iter().any(|(k, v)| job_labels.get(k) != Some(v)));
    assert!(pdb["spec"]["maxUnavailable"].is_u64() || pdb["spec"]["minAvailable"].is_u64());
}

/// A value that looks like a credential rather than a `<placeholder>` or a `${VAR}`.
fn looks_secret(s: &str) -> bool {
    if s.starts_with('<') && s.ends_with('>') {
        return false;
    }
    let shopify = ["shpat_", "shpca_", "shpss_", "ck_", "cs_"]
        .iter()
        .any(|p| {
            s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|w| w.starts_with(p) && w.len() > p.len() + 16)
        });
    // user:password@ in a URL, with a password that is not a <placeholder>
    let url_password = s.split("://").nth(1).is_some_and(|rest| {
        rest.split_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, pw)| !pw.is_empty() && !pw.contains('<') && !pw.contains('$'))
    });
    shopify || url_password || s.contains("-----BEGIN") || s.contains("\"private_key\"")
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn no_manifest_holds_a_secret_value() {
    assert!(looks_secret("postgres://sheetsync:hunter2@db:5432/x"));
    assert!(looks_secret("shpat_0123456789abcdef0123456789abcdef"));
    assert!(!looks_secret(
        "<postgres://USER:PASSWORD@HOST:5432/DATABASE>"
    ));
    assert!(!looks_secret("${ACME_CLIENT_SECRET}"));

    for (path, doc) in manifests() {
        let at = path.display();
        let mut all = Vec::new();
        strings(&doc, &mut all);
        for s in all {
            assert!(!looks_secret(s), "{at}: a credential-like value: {s:.20}…");
        }
        if doc["kind"] == "Secret" {
            // The example Secret holds placeholders only: <what goes here>.
            for key in ["stringData", "data"] {
                for (name, value) in doc[key].as_object().into_iter().flatten() {
                    let v = value.as_str().unwrap_or_default();
                    assert!(
                        v.starts_with('<') && v.ends_with('>'),
                        "{at}: {name} = {v:.20}"
                    );
                }
            }
            continue;
        }
        // Anywhere else, an environment variable whose name says secret is never inline.
        let mut envs = Vec::new();
        collect_env(&doc, &mut envs);
        for env in envs {
            let name = env["name"].as_str().unwrap_or_default();
            let secretish = [
                "SECRET",
                "TOKEN",
                "PASSWORD",
                "KEY",
                "STATE_URL",
                "CLIENT_ID",
            ]
            .iter()
            .any(|w| name.contains(w));
            if secretish {
                assert!(env.get("value").is_none(), "{at}: {name} is written inline");
            }
        }
    }
}

fn collect_env<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(env)) = o.get("env") {
                out.extend(env);
            }
            o.values().for_each(|x| collect_env(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_env(x, out)),
        _ => {}
    }
}

#[test]
fn the_configmap_pairs_load_and_every_variable_they_name_is_in_the_secret() {
    let docs = manifests();
    let configmap = one_of_kind(&docs, "ConfigMap");
    let tmp = tempfile::tempdir().expect("tempdir");
    for (key, text) in configmap["data"].as_object().expect("data") {
        std::fs::write(tmp.path().join(key), text.as_str().expect("text")).expect("write");
    }
    let pairs = sheetsync::fleet::load_dir(tmp.path())
        .unwrap_or_else(|e| panic!("the ConfigMap's pair files do not load:\n{e}"));
    assert!(pairs.len() >= 2);
    assert!(pairs.iter().any(|p| p.mode.name() == "watch"));
    assert!(pairs.iter().any(|p| p.mode.name() == "schedule"));

    let secret = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == "Secret" && d.pointer("/stringData/SHEETSYNC_STATE_URL").is_some())
        .expect("the env Secret");
    let keys: BTreeSet<&str> = secret["stringData"]
        .as_object()
        .expect("stringData")
        .keys()
        .map(String::as_str)
        .collect();
    // Resolving each pair as a worker would, with the Secret's keys as its environment.
    let deployment = one_of_kind(&docs, "Deployment");
    let worker = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(
        worker["envFrom"].as_array().is_some_and(|e| e
            .iter()
            .any(|e| e.pointer("/secretRef/name") == secret.pointer("/metadata/name"))),
        "the workers take the Secret's keys as environment variables"
    );
    let env = |name: &str| keys.contains(name).then(|| "x".to_owned());
    let mounts: Vec<&str> = worker["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    for pair in &pairs {
        let config = pair
            .config(&env)
            .unwrap_or_else(|e| panic!("pair {} on a worker: {e}", pair.name));
        // A key file path must lie on a volume the worker mounts.
        if let Some(key) = &config.google.credentials {
            assert!(
                mounts.iter().any(|m| key.starts_with(m)),
                "{}: {} is not mounted",
                pair.name,
                key.display()
            );
        }
    }
}

// ---------------------------------------------------------------- systemd

/// The subcommands `sheetsync --help` lists.
fn commands() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sheetsync"))
        .arg("--help")
        .output()
        .expect("sheetsync --help");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// `ExecStart=` split as systemd does for these simple lines (double quotes group).
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart=");
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[test]
fn the_units_start_commands_and_options_the_binary_has() {
    let commands = commands();
    assert!(
        commands.contains("watch") && commands.contains("sync"),
        "{commands:?}"
    );
    let units = files("deploy/systemd", "service");
    let names: Vec<String> = units
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        ["sheetsync-schedule.service", "sheetsync-watch.service"]
    );
    for path in &units {
        let text = std::fs::read_to_string(path).expect("unit");
        let words = exec_start(&text);
        assert_eq!(words[0], "/usr/local/bin/sheetsync");
        // Global options first (`--config PATH`), then the command.
        let mut i = 1;
        while words[i].starts_with('-') {
            i += if words[i] == "--config" { 2 } else { 1 };
        }
        let command = &words[i];
        assert!(
            commands.contains(command),
            "{}: {command} is not a command",
            path.display()
        );
        let expected = if path.to_string_lossy().contains("watch") {
            "watch"
        } else {
            "schedule"
        };
        assert_eq!(command, expected);
        let help = Command::new(env!("CARGO_BIN_EXE_sheetsync"))
            .args([command.as_str(), "--help"])
            .output()
            .expect("help");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words[i + 1..].iter().filter(|w| w.starts_with("--")) {
            assert!(help.contains(flag.as_str()), "{command} has no {flag}");
        }
        // `schedule` is a long-running service: no timer drives it.
        assert!(!text.contains("[Timer]"));
        for needed in [
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "DynamicUser=yes",
            "EnvironmentFile=/etc/sheetsync/",
            "UMask=0077",
        ] {
            assert!(
                text.lines().any(|l| l == needed || l.starts_with(needed)),
                "{}: {needed}",
                path.display()
            );
        }
    }
    assert!(
        !repo()
            .join("deploy/systemd/sheetsync-schedule.timer")
            .exists()
    );
    // The env file example documents its mode and carries no values.
    let env = std::fs::read_to_string(repo().join("deploy/systemd/sheetsync.env.example"))
        .expect("env example");
    assert!(env.contains("0600"));
    for line in env
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        assert!(line.ends_with('='), "a value in the example: {line}");
    }
}

/// `systemd-analyze verify` on copies of the units whose ExecStart is the binary under
/// test (verify insists the program exists). It exits 0 even when it ignores a bad
/// setting, so any line it prints about our units is a failure.
fn verify(units: &[PathBuf]) -> Option<Result<(), String>> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut copies = Vec::new();
    for unit in units {
        let text = std::fs::read_to_string(unit).expect("unit");
        let text = text.replace("/usr/local/bin/sheetsync", env!("CARGO_BIN_EXE_sheetsync"));
        let copy = tmp.path().join(unit.file_name().expect("name"));
        std::fs::write(&copy, text).expect("copy");
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&copies)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("sheetsync")).collect();
    Some(if out.status.success() && ours.is_empty() {
        Ok(())
    } else {
        Err(text)
    })
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let units = files("deploy/systemd", "service");
    let Some(result) = verify(&units) else {
        eprintln!(
            "\n*** SKIPPED: systemd-analyze is not installed here; the systemd units were \
             NOT verified (deploy/systemd) ***\n"
        );
        return;
    };
    if let Err(output) = result {
        panic!("systemd-analyze verify:\n{output}");
    }
    // The check bites: a unit with a setting systemd cannot parse is reported.
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("sheetsync-broken.service");
    let text = std::fs::read_to_string(&units[0]).expect("unit");
    std::fs::write(
        &broken,
        text.replace("Restart=on-failure", "Restart=sometimes"),
    )
    .expect("write");
    assert!(verify(&[broken]).is_some_and(|r| r.is_err()));
}

// ---------------------------------------------------------------- Dockerfile

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') && current.is_empty()
            || trimmed.is_empty() && current.is_empty()
        {
            continue;
        }
        if let Some(part) = trimmed.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let whole = std::mem::take(&mut current);
        let (op, rest) = whole
            .split_once(char::is_whitespace)
            .unwrap_or((&whole, ""));
        out.push((op.to_uppercase(), rest.trim().to_owned()));
    }
    out
}

/// Where each stage starts (its `FROM`); there are at least two.
fn stage_starts(steps: &[(String, String)]) -> Vec<usize> {
    let stages: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "a multi-stage build");
    stages
}

#[test]
fn the_image_is_built_without_the_sandbox_and_runs_as_non_root() {
    let steps = dockerfile();
    let stages = stage_starts(&steps);
    let (build, last) = (
        &steps[stages[0]..stages[1]],
        &steps[*stages.last().expect("stage")..],
    );
    assert!(
        build[0].1.to_lowercase().ends_with(" as build"),
        "{:?}",
        build[0]
    );

    let cargo = build
        .iter()
        .find(|(op, rest)| op == "RUN" && rest.contains("cargo build"))
        .expect("a cargo build step");
    for flag in ["--no-default-features", "--locked", "--release"] {
        assert!(cargo.1.contains(flag), "cargo build without {flag}");
    }

    // The image that ships: the binary from the build stage, a non-root user, the entrypoint.
    assert!(
        !last[0].1.contains("rust:"),
        "the toolchain is not the runtime: {}",
        last[0].1
    );
    for (op, rest) in last.iter().filter(|(op, _)| op == "COPY" || op == "ADD") {
        assert!(
            op == "COPY" && rest.starts_with("--from=build "),
            "{op} {rest}"
        );
    }
    let user = last
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.as_str())
        .expect("USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(!matches!(name, "" | "0" | "root"), "runs as {user}");
    assert!(
        name.chars().all(|c| c.is_ascii_digit()),
        "a numeric user, which runAsNonRoot can check: {user}"
    );
    assert_eq!(
        last.iter()
            .rev()
            .find(|(op, _)| op == "ENTRYPOINT")
            .map(|(_, e)| e.as_str()),
        Some(r#"["sheetsync"]"#)
    );

    // No secret is baked in: no ENV/ARG that names one.
    for (op, rest) in steps.iter().filter(|(op, _)| op == "ENV" || op == "ARG") {
        let upper = rest.to_uppercase();
        for word in ["SECRET", "TOKEN", "PASSWORD", "STATE_URL", "KEY"] {
            assert!(!upper.contains(word), "{op} {rest}");
        }
    }
}

#[test]
fn the_build_context_is_an_allowlist_of_what_the_build_copies() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "everything is excluded first");
    let allowed: Vec<&str> = rules
        .iter()
        .filter_map(|r| r.strip_prefix('!'))
        .map(|r| r.trim_end_matches('/'))
        .collect();
    for excluded in ["**/.sheetsync/", "**/target/"] {
        assert!(rules.contains(&excluded), "{excluded}");
    }
    let steps = dockerfile();
    let stages = stage_starts(&steps);
    let mut copied = 0;
    for (_, rest) in steps[stages[0]..stages[1]]
        .iter()
        .filter(|(op, _)| op == "COPY")
    {
        let words: Vec<&str> = rest
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        for source in &words[..words.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "COPY {source}: not in the repo"
            );
            assert!(
                allowed.contains(source),
                "COPY {source}: excluded by .dockerignore"
            );
            copied += 1;
        }
    }
    assert!(copied >= 4);
}
