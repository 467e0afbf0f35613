//! The `prodsim` command line, run as a real process.

use std::process::{Command, Output};

fn prodsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prodsim"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start prodsim: {e}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn list_names_every_registered_scenario() {
    let out = json(&prodsim(&["list", "--json"]));
    let ids: Vec<&str> = out
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    let expected: Vec<String> = prodsim::scenarios::catalogue()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|s| s.spec.id.clone())
        .collect();
    assert_eq!(ids, expected);
    let text = prodsim(&["list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("rate-limiting"));
}

#[test]
fn show_gives_parameters_presets_and_metrics() {
    let out = json(&prodsim(&["show", "connection-pool", "--json"]));
    assert_eq!(out["id"], "connection-pool");
    let pool = out["params"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["key"] == "pool_size");
    assert_eq!(
        pool.map(|p| p["default"].clone()),
        Some(serde_json::json!(16.0))
    );
    assert!(out["presets"].as_array().is_some_and(|p| p.len() >= 2));
    let text = String::from_utf8_lossy(&prodsim(&["show", "rate-limiting"]).stdout).into_owned();
    assert!(text.contains("algorithm") && text.contains("fixed_window | sliding_log"));
    // Every metric and series is listed with its definition.
    let spec = &prodsim::scenarios::find("rate-limiting")
        .unwrap_or_else(|e| panic!("{e}"))
        .spec;
    for key in spec.metric_keys() {
        let definition = prodsim::present::metric_description(spec, &key);
        assert!(!definition.is_empty() && text.contains(definition), "{key}");
    }
    for key in spec.series_keys() {
        let definition = prodsim::present::series_description(spec, &key);
        assert!(!definition.is_empty() && text.contains(definition), "{key}");
    }
}

#[test]
fn run_json_has_the_documented_shape() {
    let out = json(&prodsim(&[
        "run",
        "rate-limiting",
        "--preset",
        "good",
        "--set",
        "limit=15",
        "--seed",
        "7",
        "--duration",
        "5",
        "--json",
    ]));
    assert_eq!(out["scenario"], "rate-limiting");
    assert_eq!(out["seed"], 7);
    assert_eq!(out["duration_s"], 5.0);
    assert_eq!(out["params"]["algorithm"], "sliding_log");
    assert_eq!(out["params"]["limit"], 15.0);
    assert_eq!(out["params"]["boundary_burst"], true);
    assert!(out["events"].as_u64().is_some_and(|e| e > 0));
    assert!(out["wall_ms"].as_f64().is_some());
    for key in [
        "requests",
        "completed",
        "failed",
        "rejected",
        "in_flight",
        "throughput_rps",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "allowed",
        "max_in_any_window",
    ] {
        assert!(out["metrics"][key].is_number(), "metrics.{key} missing");
    }
    assert_eq!(out["metrics"]["max_in_any_window"], 15.0);
}

#[test]
fn run_json_is_the_summary_the_page_writes() {
    // One routine writes both: the CLI's output is present::summary_json
    // of the same run, bar the wall-clock time.
    let mut cli = json(&prodsim(&[
        "run",
        "cascading-failures",
        "--seed",
        "5",
        "--duration",
        "30",
        "--json",
    ]));
    let s = prodsim::scenarios::find("cascading-failures").unwrap_or_else(|e| panic!("{e}"));
    let params = s.spec.defaults();
    let cfg = prodsim::spec::RunConfig {
        seed: 5,
        duration_s: 30.0,
    };
    let result = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let run = prodsim::present::SummaryRun {
        params: &params,
        result: &result,
    };
    let page: serde_json::Value = serde_json::from_str(&prodsim::present::summary_json(
        &s.spec.id, 5, &run, None, None,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(cli["wall_ms"].is_number());
    cli.as_object_mut().map(|o| o.remove("wall_ms"));
    assert_eq!(cli, page);
}

#[test]
fn stamp_prints_the_build_stamp_the_site_names_its_data_after() {
    let out = prodsim(&["stamp"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(text, prodsim::STAMP);
    assert!(
        text.len() == 12 && text.chars().all(|c| c.is_ascii_hexdigit()),
        "{text}"
    );
}

#[test]
fn json_reports_the_simulated_duration() {
    // Two simulated hours, asked in seconds, reported in seconds.
    let asked = json(&prodsim(&[
        "run",
        "memory-leaks",
        "--duration",
        "7200",
        "--json",
    ]));
    assert_eq!(asked["duration_s"], 7200.0);
}

#[test]
fn same_command_gives_the_same_metrics() {
    let args = [
        "run",
        "connection-pool",
        "--seed",
        "3",
        "--duration",
        "5",
        "--json",
    ];
    let (a, b) = (json(&prodsim(&args)), json(&prodsim(&args)));
    assert_eq!(a["metrics"], b["metrics"]);
    assert_eq!(a["events"], b["events"]);
}

#[test]
fn bad_input_exits_2_with_a_message_naming_the_valid_choices() {
    // Every registered id, in catalogue order.
    let ids: Vec<&str> = prodsim::scenarios::REGISTRY.iter().map(|e| e.id).collect();
    let unknown = format!("unknown scenario 'nope' (valid: {})", ids.join(", "));
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: prodsim <COMMAND>"),
        (&["frobnicate"], "valid: list, show, run, bench, check"),
        (&["run", "nope"], &unknown),
        (&["run"], "which scenario?"),
        (
            &["run", "rate-limiting", "--set", "speed=3"],
            "valid: algorithm, limit, window_ms",
        ),
        (
            &["run", "rate-limiting", "--set", "limit=0"],
            "limit=0 is out of range (valid: 1 to 1000 requests)",
        ),
        (
            &["run", "rate-limiting", "--set", "limit=lots"],
            "expected a number",
        ),
        (
            &["run", "rate-limiting", "--set", "algorithm=leaky"],
            "valid: fixed_window, sliding_log, sliding_counter, token_bucket",
        ),
        (
            &["run", "rate-limiting", "--set", "boundary_burst=maybe"],
            "expected true or false",
        ),
        (
            &["run", "rate-limiting", "--set", "limit"],
            "--set expects key=value",
        ),
        (
            &["run", "rate-limiting", "--preset", "best"],
            "valid: bad, good",
        ),
        (
            &["run", "rate-limiting", "--seed", "-1"],
            "--seed '-1' is not a whole number",
        ),
        (
            &["run", "rate-limiting", "--duration", "0"],
            "duration=0 is out of range",
        ),
        (
            &["run", "rate-limiting", "--duration", "abc"],
            "not a number of seconds",
        ),
        (
            &["run", "rate-limiting", "--seed"],
            "a value is required for '--seed <N>'",
        ),
        (
            &["run", "rate-limiting", "--colour"],
            "unexpected argument '--colour'",
        ),
        (
            &["show", "rate-limiting", "extra"],
            "unexpected argument 'extra'",
        ),
        (
            &[
                "run",
                "third-party-rate-limits",
                "--set",
                "faults=provider:melt:1:1",
            ],
            "no fault 'melt' (valid: down, slow<factor>, errors<percent>, traffic<factor>)",
        ),
        (
            &[
                "run",
                "cascading-failures",
                "--set",
                "faults=cache:down:1:1",
            ],
            "no stage 'cache' (valid: users, api, payments, provider, catalogue_db)",
        ),
        (
            &["bench", "--requests", "0"],
            "--requests '0' must be a whole number",
        ),
    ];
    for (args, needle) in cases {
        let out = prodsim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: expected '{needle}' in: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{args:?} panicked");
    }
}

#[test]
fn svg_export_writes_every_chart_and_the_diagram() {
    let dir = std::env::temp_dir().join(format!("prodsim-svg-{}", std::process::id()));
    let out = prodsim(&[
        "run",
        "connection-pool",
        "--duration",
        "3",
        "--svg",
        dir.to_str().unwrap_or(""),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let charts = prodsim::scenarios::find("connection-pool")
        .map(|s| s.spec.charts.len())
        .unwrap_or(0);
    for i in 1..=charts {
        let svg = std::fs::read_to_string(dir.join(format!("chart-{i}.svg"))).unwrap_or_default();
        assert!(
            svg.starts_with("<svg") && svg.contains("simulated time (s)"),
            "chart {i}"
        );
    }
    let diagram = std::fs::read_to_string(dir.join("diagram.svg")).unwrap_or_default();
    assert!(diagram.contains("App + pool") && diagram.contains("</title><style>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_reports_rates() {
    let out = json(&prodsim(&["bench", "--requests", "20000", "--json"]));
    assert_eq!(out["requests"], 20000);
    assert_eq!(out["events"], 40000);
    assert!(out["events_per_s"].as_f64().is_some_and(|r| r > 0.0));
}

#[test]
fn check_runs_cases_and_reports_them() {
    let out = json(&prodsim(&[
        "check",
        "--cases",
        "40",
        "--scenario",
        "rate-limiting",
        "--seed",
        "5",
        "--json",
    ]));
    assert_eq!(out["cases"], 40);
    assert_eq!(out["per_scenario"]["rate-limiting"], 40);
    assert_eq!(out["failures"].as_array().map(Vec::len), Some(0));
    assert!(out["cases_per_s"].as_f64().is_some_and(|r| r > 0.0));
    let text = prodsim(&["check", "--cases", "10", "--scenario", "bulk-export"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(String::from_utf8_lossy(&text.stdout).contains("no failures"));
    for bad in [
        &["check", "--cases", "zero"][..],
        &["check", "--cases", "0"],
        &["check", "--scenario", "no-such-thing"],
        &["check", "--seed", "-1"],
        &["check", "rate-limiting"],
        &["check", "--frobnicate", "1"],
    ] {
        let o = prodsim(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{bad:?}");
    }
}

#[test]
fn replications_print_mean_sd_and_interval_per_metric() {
    let out = json(&prodsim(&[
        "run",
        "connection-pool",
        "--preset",
        "erlang",
        "--duration",
        "600",
        "--replications",
        "5",
        "--json",
    ]));
    assert_eq!(out["replications"], 5);
    assert_eq!(out["replication_seeds"].as_array().map(Vec::len), Some(5));
    let wait = &out["metrics"]["pool_wait_mean_ms"];
    let (mean, lo, hi) = (
        wait["mean"].as_f64().unwrap_or(f64::NAN),
        wait["ci95"][0].as_f64().unwrap_or(f64::NAN),
        wait["ci95"][1].as_f64().unwrap_or(f64::NAN),
    );
    assert!(lo <= mean && mean <= hi, "{wait}");
    assert_eq!(wait["n"], 5);
    assert!(wait["sd"].as_f64().is_some_and(|sd| sd > 0.0));
    for bad in ["1", "0", "x", "10001"] {
        let o = prodsim(&["run", "rate-limiting", "--replications", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--replications"), "{}", stderr(&o));
    }
}

#[test]
fn every_command_has_help() {
    for command in [
        "list",
        "show",
        "run",
        "bench",
        "check",
        "first-runs",
        "stamp",
    ] {
        let out = prodsim(&[command, "--help"]);
        assert!(out.status.success(), "{command}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("Usage: prodsim {command}")),
            "{command}: {text}"
        );
    }
    let top = prodsim(&["--help"]);
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(
        text.contains("check") && text.contains("Commands:"),
        "{text}"
    );
}

/// Values a hostile or careless user might pass anywhere.
fn hostile_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e309",
        "-1e309",
        "1e-400",
        "-0",
        "0x10",
        "1_000",
        "１２",
        "1,5",
        "+-3",
        "--",
        "=",
        "<script>alert(1)</script>",
        "%00",
        "%ZZ",
        "\u{202e}",
        "'; DROP TABLE x; --",
        "\n",
        "💥",
        "a:b:c:d:e",
        "provider:down:-5:10",
        "provider:down:10:1e9",
        "users:traffic1e9:0:1",
        ",,,",
        "provider:slow0:1:1",
        "provider:errors101:1:1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("9".repeat(400));
    v.push("x".repeat(10_000));
    v
}

#[test]
fn hostile_cli_values_get_exit_2_and_a_message_never_a_panic() {
    let scenarios = prodsim::scenarios::catalogue().unwrap_or_else(|e| panic!("{e}"));
    let mut tried = 0;
    for s in scenarios {
        for p in &s.spec.params {
            for value in hostile_values() {
                let set = format!("{}={value}", p.key);
                let shortest = s.spec.duration_s.min.to_string();
                let out = prodsim(&["run", &s.spec.id, "--duration", &shortest, "--set", &set]);
                tried += 1;
                match out.status.code() {
                    // Some hostile-looking text is a valid value ("-0", an
                    // empty fault list).
                    Some(0) => {}
                    Some(2) => assert!(
                        stderr(&out).contains(&p.key),
                        "{} {set}: the message should name the parameter: {}",
                        s.spec.id,
                        stderr(&out)
                    ),
                    other => panic!("{} {set}: exit {other:?}: {}", s.spec.id, stderr(&out)),
                }
            }
        }
    }
    for value in hostile_values() {
        for flag in ["--seed", "--duration", "--replications", "--preset"] {
            let out = prodsim(&["run", "rate-limiting", flag, &value]);
            tried += 1;
            let code = out.status.code();
            assert!(
                code == Some(0) || code == Some(2),
                "{flag} {value:?}: exit {code:?}: {}",
                stderr(&out)
            );
            assert!(!stderr(&out).contains("panicked"), "{flag} {value:?}");
        }
    }
    assert!(tried > 1_000, "{tried}");
}
