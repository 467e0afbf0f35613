//! Checks every registered scenario for the properties all scenarios share.
//! A new scenario gets these checks by being added to the registry.

use prodsim::engine::RunResult;
use prodsim::scenarios::{catalogue, golden_config, Scenario, REGISTRY};

use prodsim::spec::{ParamKind, ParamValue, RunConfig};

fn all() -> &'static [Scenario] {
    catalogue().unwrap_or_else(|e| panic!("registry does not parse: {e}"))
}

/// `s`'s defaults and each of its presets, by name (`None`: the defaults).
fn defaults_and_presets(s: &Scenario) -> Vec<(Option<&str>, prodsim::spec::Params)> {
    let presets = s.spec.presets.iter().map(|p| Some(p.name.as_str()));
    std::iter::once(None)
        .chain(presets)
        .map(|preset| {
            let params = s
                .spec
                .resolve(preset, &[])
                .unwrap_or_else(|e| panic!("{}: {e}", s.spec.id));
            (preset, params)
        })
        .collect()
}

/// A short run of `s` with its defaults: long enough to exercise the model,
/// short enough to keep the suite quick.
fn short_run(s: &Scenario, seed: u64) -> RunResult {
    let cfg = RunConfig {
        seed,
        ..golden_config(&s.spec)
    };
    s.run(&s.spec.defaults(), &cfg)
        .unwrap_or_else(|e| panic!("{}: {e}", s.spec.id))
}

#[test]
fn every_data_file_parses_and_ids_are_unique_and_match_files() {
    assert_eq!(all().len(), REGISTRY.len());
    for (i, s) in all().iter().enumerate() {
        assert!(
            all()[..i].iter().all(|o| o.spec.id != s.spec.id),
            "duplicate id {}",
            s.spec.id
        );
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(format!("{}.toml", s.spec.id));
        let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
        let parsed: prodsim::spec::ScenarioSpec =
            toml::from_str(&on_disk).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            parsed,
            s.spec,
            "{} must live in {}",
            s.spec.id,
            file.display()
        );
    }
}

#[test]
fn defaults_and_presets_lie_in_range_and_keys_avoid_url_words() {
    for s in all() {
        for p in &s.spec.params {
            assert!(p.check(&p.default).is_ok(), "{}.{}", s.spec.id, p.key);
            assert!(
                !prodsim::spec::url::RESERVED.contains(&p.key.as_str()),
                "{}.{} is reserved",
                s.spec.id,
                p.key
            );
            assert!(
                !p.label.is_empty() && !p.help.is_empty(),
                "{}.{} needs a label and help",
                s.spec.id,
                p.key
            );
        }
        for preset in &s.spec.presets {
            assert!(
                s.spec.resolve(Some(&preset.name), &[]).is_ok(),
                "{}: {}",
                s.spec.id,
                preset.name
            );
        }
        let names: Vec<_> = s.spec.presets.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names.contains(&"bad") && names.contains(&"good"),
            "{} needs bad and good presets",
            s.spec.id
        );
    }
}

#[test]
fn every_declared_metric_and_series_is_produced_and_nothing_undeclared() {
    for s in all() {
        let out = short_run(s, 1);
        let produced: Vec<&str> = out.metrics.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(produced, s.spec.metric_keys(), "{}: metrics", s.spec.id);
        let series: Vec<&str> = out.series.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(series, s.spec.series_keys(), "{}: series", s.spec.id);
        for m in &out.metrics {
            assert!(m.value.is_finite(), "{}.{} = {}", s.spec.id, m.key, m.value);
        }
        for se in &out.series {
            assert!(se.values.len() <= prodsim::engine::metrics::MAX_POINTS);
            assert!(
                se.values.iter().all(|v| v.is_finite()),
                "{}.{}",
                s.spec.id,
                se.key
            );
        }
    }
}

fn assert_conserved(id: &str, out: &RunResult) {
    let m = |k: &str| out.metric(k).unwrap_or_else(|| panic!("{id}: no {k}"));
    assert!(m("requests") > 0.0, "{id}: no traffic");
    assert_eq!(
        m("requests"),
        m("completed") + m("failed") + m("rejected") + m("in_flight"),
        "{id}: requests must end exactly once"
    );
    let by_reason: u64 = out.outcomes.iter().map(|o| o.count).sum();
    assert_eq!(
        by_reason as f64,
        m("failed") + m("rejected"),
        "{id}: every failure has a reason"
    );
}

#[test]
fn requests_are_conserved_in_every_preset() {
    for s in all() {
        assert_conserved(&s.spec.id, &short_run(s, 3));
        for preset in &s.spec.presets {
            let params = s
                .spec
                .resolve(Some(&preset.name), &[])
                .unwrap_or_else(|e| panic!("{e}"));
            let cfg = RunConfig {
                seed: 5,
                duration_s: s
                    .spec
                    .duration_s
                    .default
                    .min(10.0)
                    .max(s.spec.duration_s.min),
            };
            let out = s.run(&params, &cfg).unwrap_or_else(|e| panic!("{e}"));
            assert_conserved(&format!("{}:{}", s.spec.id, preset.name), &out);
        }
    }
}

#[test]
fn same_seed_repeats_exactly_and_another_seed_differs() {
    for s in all() {
        let a = short_run(s, 11);
        assert_eq!(
            a,
            short_run(s, 11),
            "{}: same seed, different result",
            s.spec.id
        );
        assert_ne!(
            a,
            short_run(s, 12),
            "{}: the seed changes nothing",
            s.spec.id
        );
    }
}

/// Every parameter at its extremes (and every option) runs without error or
/// panic and still conserves requests: the clamping promise covers the model.
#[test]
fn extreme_parameter_values_never_break_a_model() {
    for s in all() {
        for p in &s.spec.params {
            let values: Vec<ParamValue> = match p.kind {
                ParamKind::Slider => vec![ParamValue::Number(p.min), ParamValue::Number(p.max)],
                ParamKind::Select => p.options.iter().cloned().map(ParamValue::Choice).collect(),
                ParamKind::Toggle => vec![ParamValue::Flag(false), ParamValue::Flag(true)],
                // No faults, the default, and every stage at once at the
                // extremes of each kind.
                ParamKind::Faults => {
                    let all: Vec<String> = p
                        .options
                        .iter()
                        .zip(
                            ["down", "slow1000", "errors100", "traffic100", "traffic0"]
                                .iter()
                                .cycle(),
                        )
                        .map(|(stage, kind)| {
                            // Traffic faults name the users where there are any.
                            let users = p.options.iter().any(|o| o == "users");
                            let stage = if users && kind.starts_with("traffic") {
                                "users"
                            } else {
                                stage
                            };
                            format!("{stage}:{kind}:0:{}", p.max)
                        })
                        .collect();
                    vec![
                        ParamValue::Choice(String::new()),
                        p.default.clone(),
                        ParamValue::Choice(all.join(",")),
                    ]
                }
            };
            for v in values {
                let mut params = s.spec.defaults();
                let raw = v.to_string();
                assert!(s.spec.set_clamped(&mut params, &p.key, &raw).is_none());
                let cfg = RunConfig {
                    seed: 2,
                    duration_s: s.spec.duration_s.min.max(1.0),
                };
                let out = s
                    .run(&params, &cfg)
                    .unwrap_or_else(|e| panic!("{}.{}={raw}: {e}", s.spec.id, p.key));
                let m = |k: &str| out.metric(k).unwrap_or(f64::NAN);
                assert_eq!(
                    m("requests"),
                    m("completed") + m("failed") + m("rejected") + m("in_flight")
                );
            }
        }
    }
}

/// Random parameter sets and seeds (from a fixed stream, so a failure
/// repeats): every run succeeds, conserves requests, gives every failure a
/// reason, reports finite numbers within the series bound, and repeats
/// exactly.
#[test]
fn random_parameters_and_seeds_keep_every_promise() {
    use prodsim::engine::RngStream;
    let mut rng = RngStream::new(2026, "registry.random-parameters");
    for s in all() {
        for case in 0..60 {
            let mut params = s.spec.defaults();
            let mut chosen = Vec::new();
            for p in &s.spec.params {
                let raw = match p.kind {
                    ParamKind::Slider => format!("{}", p.min + (p.max - p.min) * rng.uniform()),
                    ParamKind::Select => {
                        p.options[rng.below(p.options.len() as u64) as usize].clone()
                    }
                    ParamKind::Toggle => rng.chance(0.5).to_string(),
                    ParamKind::Faults => {
                        let stage = &p.options[rng.below(p.options.len() as u64) as usize];
                        let start = (p.max * rng.uniform()).round();
                        format!(
                            "{stage}:slow{}:{start}:{}",
                            1 + rng.below(50),
                            1 + rng.below(60)
                        )
                    }
                };
                // Sliders snap to their step; nothing is out of range.
                assert!(
                    s.spec.set_clamped(&mut params, &p.key, &raw).is_none(),
                    "{}.{}={raw}",
                    s.spec.id,
                    p.key
                );
                chosen.push(format!("{}={raw}", p.key));
            }
            let (lo, hi) = (s.spec.duration_s.min, s.spec.duration_s.max.min(60.0));
            let cfg = RunConfig {
                seed: rng.next_u64(),
                duration_s: (lo + (hi - lo) * rng.uniform()).max(lo),
            };
            let what = format!(
                "{} case {case}: {} seed {} for {} s",
                s.spec.id,
                chosen.join(" "),
                cfg.seed,
                cfg.duration_s
            );
            let out = s
                .run(&params, &cfg)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_conserved(&what, &out);
            assert!(
                out.metrics.iter().all(|x| x.value.is_finite()),
                "{what}: a metric is not finite"
            );
            for series in &out.series {
                assert!(
                    series.values.len() <= 300,
                    "{what}: {} too long",
                    series.key
                );
                assert!(
                    series.values.iter().all(|v| v.is_finite()),
                    "{what}: {} not finite",
                    series.key
                );
            }
            if case % 5 == 0 {
                assert_eq!(
                    out,
                    s.run(&params, &cfg)
                        .unwrap_or_else(|e| panic!("{what}: {e}")),
                    "{what}: not repeatable"
                );
            }
        }
    }
}

#[test]
fn lessons_are_complete() {
    for s in all() {
        let l = &s.spec.lesson;
        assert!(
            l.notice.len() >= 2 && l.try_this.len() >= 2,
            "{}",
            s.spec.id
        );
        assert!(!l.predict.question.is_empty() && !l.predict.answer.is_empty());
        let i = &l.interview;
        for part in [
            &i.clarify,
            &i.challenge,
            &i.solution,
            &i.tradeoffs,
            &i.scale,
            &i.production,
        ] {
            assert!(part.len() > 40, "{}: interview answer too thin", s.spec.id);
        }
        assert!(!s.spec.charts.is_empty() && !s.spec.nodes.is_empty());
    }
}

/// Every `claim("<scenario>/<id>")` call in the lesson tests.
fn claimed_in_tests() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for piece in text.split("claim(\"").skip(1) {
            if let Some(id) = piece.split('"').next() {
                let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
                found.push((id.to_string(), file.unwrap_or_default()));
            }
        }
    }
    found
}

#[test]
fn every_lesson_claim_is_checked_by_a_lesson_test() {
    let claimed = claimed_in_tests();
    let mut all_ids = Vec::new();
    let mut missing = Vec::new();
    for s in all() {
        let l = &s.spec.lesson;
        let rows = l.table.iter().flat_map(|t| &t.rows);
        if let Some(t) = &l.table {
            assert!(
                !t.title.is_empty() && t.columns.len() >= 2,
                "{}: a lesson table needs a title and at least two columns",
                s.spec.id
            );
            for r in &t.rows {
                assert_eq!(
                    r.cells.len(),
                    t.columns.len(),
                    "{}: table row '{}' needs one cell per column",
                    s.spec.id,
                    r.id
                );
            }
        }
        let ids: Vec<&str> = l
            .notice
            .iter()
            .chain(&l.try_this)
            .map(|c| c.id.as_str())
            .chain(rows.map(|r| r.id.as_str()))
            .chain(std::iter::once("predict"))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(
                !ids[..i].contains(id),
                "{}: claim id '{id}' used twice",
                s.spec.id
            );
            assert!(
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}: claim id '{id}' must be kebab-case",
                s.spec.id
            );
            let full = format!("{}/{id}", s.spec.id);
            if !claimed.iter().any(|(c, _)| *c == full) {
                missing.push(full.clone());
            }
            all_ids.push(full);
        }
    }
    assert!(
        missing.is_empty(),
        "lesson claims no test checks (add claim(\"<id>\") to the test that does): {missing:#?}"
    );
    let stale: Vec<_> = claimed
        .iter()
        .filter(|(c, file)| !all_ids.contains(c) && file != "registry.rs" && c != "<scenario>/<id>")
        .collect();
    assert!(
        stale.is_empty(),
        "tests claim lesson sentences that no longer exist: {stale:?}"
    );
}

#[test]
fn every_metric_and_series_has_a_definition() {
    for s in all() {
        for m in s.spec.metrics.iter().chain(&s.spec.series) {
            assert!(
                m.description.len() >= 20 && m.description.len() <= 200,
                "{}.{}: needs a one-line definition (20 to 200 characters)",
                s.spec.id,
                m.key
            );
        }
        for key in s.spec.metric_keys() {
            assert!(
                !prodsim::present::metric_description(&s.spec, &key).is_empty(),
                "{}.{key}: no definition",
                s.spec.id
            );
        }
        for key in s.spec.series_keys() {
            assert!(
                !prodsim::present::series_description(&s.spec, &key).is_empty(),
                "{}.{key}: no definition",
                s.spec.id
            );
        }
    }
}

#[test]
fn every_flow_scenarios_diagram_nodes_are_its_stages() {
    // A flow scenario's boxes are its topology's stages, named alike, so
    // each box's standard series (`<stage>.busy`, `<stage>.queue`, …) feed
    // it with no model code. `users` boxes (`users`, `users_burst`, …)
    // may stand for the clients.
    let mut flow = 0;
    for (entry, s) in REGISTRY.iter().zip(all()) {
        let Some(topology_for) = entry.topology else {
            continue;
        };
        flow += 1;
        let mut nodes: Vec<&str> = s
            .spec
            .nodes
            .iter()
            .map(|n| n.id.as_str())
            .filter(|id| !id.starts_with("users"))
            .collect();
        nodes.sort_unstable();
        for (preset, params) in defaults_and_presets(s) {
            let topo = topology_for(&params).unwrap_or_else(|e| panic!("{}: {e}", s.spec.id));
            let mut stages: Vec<&str> = topo.stages.iter().map(|st| st.name.as_str()).collect();
            stages.sort_unstable();
            assert_eq!(stages, nodes, "{} {preset:?}", s.spec.id);
        }
    }
    assert!(flow >= 2, "the flow scenarios are registered with `flow`");
}

#[test]
fn every_model_reads_every_parameter_and_choices_through_their_enums() {
    // Run with the defaults and every preset, each model must read every
    // parameter its data file declares, and read each select parameter
    // into an enum whose option names are exactly the file's options: a
    // misspelt or added option then fails instead of falling through.
    use prodsim::spec::with_read_log;
    for s in all() {
        let mut reads = Vec::new();
        for (preset, params) in defaults_and_presets(s) {
            let cfg = RunConfig {
                seed: 1,
                duration_s: s.spec.duration_s.min.max(1.0),
            };
            let (out, log) = with_read_log(|| s.run(&params, &cfg));
            out.unwrap_or_else(|e| panic!("{} {preset:?}: {e}", s.spec.id));
            reads.extend(log);
        }
        for p in &s.spec.params {
            let mine: Vec<_> = reads.iter().filter(|r| r.key == p.key).collect();
            assert!(
                !mine.is_empty(),
                "{}: the model never reads '{}'",
                s.spec.id,
                p.key
            );
            if p.kind == ParamKind::Select {
                for r in &mine {
                    let mut names: Vec<&str> = r
                        .options
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: '{}' is read as text, not into its enum",
                                s.spec.id, p.key
                            )
                        })
                        .to_vec();
                    let mut options: Vec<&str> = p.options.iter().map(String::as_str).collect();
                    names.sort_unstable();
                    options.sort_unstable();
                    assert_eq!(names, options, "{}: '{}'", s.spec.id, p.key);
                }
            }
        }
    }
}
