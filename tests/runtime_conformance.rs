//! The behaviours every runtime must show, written once and run on each: the in-memory fake
//! (`runtime::fake`), the real Docker engine with the test container, and the Kubernetes
//! runtime on the fake API server (`kubefake`), whose pods behave as the test container does. Each behaviour is
//! an async function generic over the runtime; the macro at the end makes one test of it per
//! runtime.
//!
//! The suite drives the endpoint logic itself (the start state machine, the stop, the live
//! view, the logs read), with records kept in memory, so what differs between the runs is
//! only the runtime.

mod common;

use common::docker::{LabelGuard, unique_value};
use dsdl_handler::conffile::Stanza;
use dsdl_handler::endpoints::live::observe;
use dsdl_handler::endpoints::logs::read_logs;
use dsdl_handler::endpoints::start::{Start, workload};
use dsdl_handler::endpoints::stop::stop_workloads;
use dsdl_handler::error::ApiError;
use dsdl_handler::kubefake::KubeFake;
use dsdl_handler::model::record::{MemoryRecords, Mode, Records};
use dsdl_handler::names::{self, ContainerType};
use dsdl_handler::protocol::fields::Fields;
use dsdl_handler::protocol::reply::Outcome;
use dsdl_handler::protocol::request::Secret;
use dsdl_handler::runtime::fake::Fake;
use dsdl_handler::runtime::logs::LogQuery;
use dsdl_handler::runtime::plan::{self, StartRequest};
use dsdl_handler::runtime::secrets::Secrets;
use dsdl_handler::runtime::state::{self, Live};
use dsdl_handler::runtime::{Runtime, Workload};
use serde_json::{Value, json};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A runtime under test with what the suite needs around it.
struct Subject<R> {
    rt: Rc<R>,
    records: Rc<MemoryRecords>,
    /// This search head's manager id; on Docker also the cleanup label.
    manager: String,
    token: Secret,
    /// The image that serves the DSDL contract, and another one (another spec).
    image: String,
    other_image: String,
    /// Extra labels every workload carries (Docker: the test label, for cleanup).
    extra_labels: Vec<(String, String)>,
    /// Whether logs tell stdout from stderr (Kubernetes merges them).
    separate_streams: bool,
    /// Removes what the Docker run made, when the last clone goes.
    _guard: Option<Rc<LabelGuard>>,
    /// The fake API server a Kubernetes run talks to, stopped when the last clone goes.
    _cluster: Option<Rc<KubeFake>>,
}

impl<R> Clone for Subject<R> {
    fn clone(&self) -> Self {
        Subject {
            rt: self.rt.clone(),
            records: self.records.clone(),
            manager: self.manager.clone(),
            token: self.token.clone(),
            image: self.image.clone(),
            other_image: self.other_image.clone(),
            extra_labels: self.extra_labels.clone(),
            separate_streams: self.separate_streams,
            _guard: self._guard.clone(),
            _cluster: self._cluster.clone(),
        }
    }
}

impl<R: Runtime> Subject<R> {
    /// A model name unique to this run (Docker tests share one engine).
    fn model(&self, tag: &str) -> String {
        let suffix: String = self.manager.chars().rev().take(6).collect();
        format!("conf-{tag}-{suffix}")
    }

    /// What a start of `model` with `image` and extra test-container settings runs.
    fn plan(&self, model: &str, image: &str, env: &[(&str, &str)]) -> (StartRequest, Workload) {
        let want = StartRequest {
            model: model.into(),
            image: image.into(),
            mode: Mode::Prod,
            cluster: ContainerType::Docker,
            gpu: false,
            wait: Duration::from_secs(15),
            tuning: Default::default(),
        };
        let connection = Stanza::new("docker");
        let (mut workload, _) = workload(
            &want,
            image,
            &self.manager,
            &connection,
            &Secrets::default(),
            &self.token,
            None,
        );
        for (k, v) in env {
            workload.env.set(k, *v);
        }
        workload.labels.extend(self.extra_labels.iter().cloned());
        (want, workload)
    }

    /// `POST start_container` for `model`: the reply body, or the error.
    async fn start(
        &self,
        model: &str,
        image: &str,
        env: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let (want, workload) = self.plan(model, image, env);
        let hash = plan::spec_hash(image, want.mode, false);
        let found = self.records.get(model).await?;
        let outcome = Start {
            runtime: self.rt.as_ref(),
            records: self.records.as_ref(),
            want: &want,
            workload: &workload,
            spec_hash: &hash,
            token: &self.token,
            manager: &self.manager,
            connection: "conformance",
            image,
            deadline: Instant::now() + Duration::from_secs(60),
        }
        .run(found.as_ref(), Vec::new())
        .await?;
        match outcome {
            Outcome::Object { body, .. } => Ok(body),
            other => panic!("a start answers an object, not {other:?}"),
        }
    }

    /// `POST stop_container` for `model`: the ids removed (the record is left to the caller).
    async fn stop(&self, model: &str) -> Vec<String> {
        let record = self.records.get(model).await.unwrap();
        let recorded = record
            .as_ref()
            .and_then(|r| r.get("id"))
            .filter(|i| !i.is_empty());
        stop_workloads(self.rt.as_ref(), &self.manager, model, recorded)
            .await
            .unwrap()
    }

    /// The `container_data` row of `model` and the orphans, as the live view builds them.
    async fn live(&self, model: &str) -> (serde_json::Map<String, Value>, Vec<Value>) {
        let records = self.records.all();
        let refs: Vec<&Stanza> = records.iter().collect();
        let seen = observe(self.rt.as_ref(), &self.manager, &refs, Some(&self.token))
            .await
            .unwrap();
        let record = self
            .records
            .get(model)
            .await
            .unwrap()
            .unwrap_or_else(|| Stanza::new(model));
        let live = state::find(&record, &seen.containers);
        let row = state::row(&record, &live, seen.probes.get(model));
        let orphans = state::orphans(&records, &seen.containers)
            .into_iter()
            .filter(|o| o.manager_id.as_deref() == Some(self.manager.as_str()))
            .map(state::orphan_json)
            .collect();
        (row, orphans)
    }

    /// Polls the live row of `model` until `done` holds (at most 20 s).
    async fn live_until(
        &self,
        model: &str,
        done: impl Fn(&serde_json::Map<String, Value>) -> bool,
    ) -> serde_json::Map<String, Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let (row, _) = self.live(model).await;
            if done(&row) || Instant::now() >= until {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn fake_subject() -> Subject<Fake> {
    Subject {
        rt: Rc::new(Fake::new()),
        records: Rc::new(MemoryRecords::default()),
        manager: unique_value("fake"),
        token: Secret::new("conformance-token"),
        image: "dsdl-test/contract:1".into(),
        other_image: "dsdl-test/other:1".into(),
        extra_labels: Vec::new(),
        separate_streams: true,
        _guard: None,
        _cluster: None,
    }
}

/// The Kubernetes subject: the runtime on the fake API server (started for this test), as
/// alice with a user token, node ports reached on 127.0.0.1.
async fn kube_subject() -> Subject<impl Runtime> {
    let cluster = common::kube::cluster();
    let stanza = Stanza::from_pairs(
        "kubernetes",
        &[
            ("auth_mode", "user-token"),
            ("cluster_url", &cluster.url),
            ("namespace", common::kube::NS),
            ("node_port_hostname_internal", "127.0.0.1"),
            ("node_port_hostname_external", "127.0.0.1"),
        ],
    );
    let secrets = Secrets::from_listing(vec![
        ("user_token".into(), Secret::new(common::kube::TOKEN)),
        ("cluster_ca".into(), Secret::new(cluster.ca_pem.clone())),
    ]);
    let rt = dsdl_handler::runtime::connect::connect(ContainerType::Kubernetes, &stanza, &secrets)
        .await
        .expect("kubernetes connection");
    Subject {
        rt: Rc::new(rt),
        records: Rc::new(MemoryRecords::default()),
        manager: unique_value("kube"),
        token: Secret::new("conformance-token"),
        image: "registry.example/mltk-container-golden-cpu:5.2.1".into(),
        other_image: "registry.example/mltk-container-other:1".into(),
        extra_labels: Vec::new(),
        separate_streams: false,
        _guard: None,
        _cluster: Some(Rc::new(cluster)),
    }
}

/// The Docker subject; `None` when no engine is reachable (the test is skipped, loudly).
async fn docker_subject(tag: &str) -> Option<Subject<impl Runtime>> {
    if !common::docker::require_docker() {
        return None;
    }
    let guard = LabelGuard::new(tag);
    let stanza = Stanza::from_pairs(
        "docker",
        &[
            (
                "docker_url",
                &format!("unix://{}", common::docker::DOCKER_SOCKET),
            ),
            ("endpoint_hostname", "localhost"),
        ],
    );
    let rt = dsdl_handler::runtime::connect::connect(
        ContainerType::Docker,
        &stanza,
        &Secrets::default(),
    )
    .await
    .expect("docker connection");
    Some(Subject {
        rt: Rc::new(rt),
        records: Rc::new(MemoryRecords::default()),
        manager: guard.value.clone(),
        token: Secret::new("conformance-token"),
        image: common::docker::contract_image(),
        other_image: common::docker::never_ready_image(),
        extra_labels: vec![(common::docker::TEST_LABEL.to_string(), guard.value.clone())],
        separate_streams: true,
        _guard: Some(Rc::new(guard)),
        _cluster: None,
    })
}

// ---------------------------------------------------------------------------------------------
// The behaviours
// ---------------------------------------------------------------------------------------------

/// A second start with the same spec changes nothing and says so; the record names the one
/// workload.
async fn a_repeated_start_changes_nothing<R: Runtime>(s: Subject<R>) {
    let model = s.model("again");
    let first = s.start(&model, &s.image, &[]).await.unwrap();
    assert_eq!(first["updated_config"]["changed"], true, "{first}");
    assert_eq!(first["updated_config"]["phase"], "ready", "{first}");
    let second = s.start(&model, &s.image, &[]).await.unwrap();
    assert_eq!(second["updated_config"]["changed"], false, "{second}");
    assert_eq!(
        second["updated_config"]["container_id"],
        first["updated_config"]["container_id"]
    );
    let record = s.records.get(&model).await.unwrap().unwrap();
    assert_eq!(
        Some(record.get("id").unwrap_or_default()),
        first["updated_config"]["container_id"].as_str()
    );
    assert_eq!(s.stop(&model).await.len(), 1);
}

/// A start with another spec while the model runs is a 409 that changes nothing.
async fn another_spec_is_a_conflict<R: Runtime>(s: Subject<R>) {
    let model = s.model("spec");
    let first = s.start(&model, &s.image, &[]).await.unwrap();
    let e = s.start(&model, &s.other_image, &[]).await.unwrap_err();
    assert_eq!(e.status(), 409, "{}", e.message);
    assert!(e.message.contains("different image"), "{}", e.message);
    let (row, _) = s.live(&model).await;
    assert_eq!(row["state"], "running");
    assert_eq!(
        row["id"].as_str(),
        first["updated_config"]["container_id"].as_str()
    );
    s.stop(&model).await;
}

/// Two starts of one model at once meet on one workload.
async fn concurrent_starts_meet_on_one_workload<R: Runtime>(s: Subject<R>) {
    let model = s.model("race");
    let (a, b) = tokio::join!(
        s.start(&model, &s.image, &[]),
        s.start(&model, &s.image, &[])
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a["updated_config"]["container_id"], b["updated_config"]["container_id"],
        "{a}\n{b}"
    );
    let changed = [&a, &b]
        .iter()
        .filter(|r| r["updated_config"]["changed"] == true)
        .count();
    assert_eq!(changed, 1, "exactly one start made it: {a}\n{b}");
    assert_eq!(s.stop(&model).await.len(), 1, "one workload to stop");
}

/// A stop removes the workload; a second stop finds nothing and fails nothing.
async fn stop_is_idempotent<R: Runtime>(s: Subject<R>) {
    let model = s.model("stop");
    let started = s.start(&model, &s.image, &[]).await.unwrap();
    let id = started["updated_config"]["container_id"].as_str().unwrap();
    assert_eq!(s.stop(&model).await, vec![id.to_string()]);
    assert!(s.stop(&model).await.is_empty());
    assert!(s.rt.find(id).await.unwrap().is_none());
}

/// A record whose workload is gone reads "missing", and its logs are a 404.
async fn a_missing_workload_is_reported<R: Runtime>(s: Subject<R>) {
    let model = s.model("gone");
    let started = s.start(&model, &s.image, &[]).await.unwrap();
    let id = started["updated_config"]["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s.rt.remove(&id).await.unwrap());
    let (row, _) = s.live(&model).await;
    assert_eq!(row["state"], "missing", "{row:?}");
    assert_eq!(row["phase"], "failed");
    let q = LogQuery::from_fields(&Fields::from_pairs(&[("model".into(), model.clone())])).unwrap();
    let e = read_logs(s.rt.as_ref(), &q, &id).await.unwrap_err();
    assert_eq!(e.status(), 404, "{}", e.message);
    assert!(s.stop(&model).await.is_empty());
}

/// A workload that exits after it was ready reads "exited" with its code and the reason.
async fn a_dead_workload_shows_its_exit<R: Runtime>(s: Subject<R>) {
    let model = s.model("dies");
    let env = [("DSDL_TEST_EXIT_AFTER", "2"), ("DSDL_TEST_EXIT_CODE", "3")];
    let started = s.start(&model, &s.image, &env).await.unwrap();
    assert_eq!(started["updated_config"]["phase"], "ready", "{started}");
    let row = s.live_until(&model, |r| r["state"] != "running").await;
    assert_eq!(row["state"], "exited", "{row:?}");
    assert_eq!(row["exit_code"], 3);
    assert_eq!(row["status"], "Inactive");
    assert_eq!(row["last_failure"]["exit_code"], 3);
    assert!(
        row["last_failure"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("code 3")),
        "{row:?}"
    );
    assert_eq!(
        s.stop(&model).await.len(),
        1,
        "an exited workload is still removed"
    );
}

/// Logs: the last `tail` lines of both streams, newest last; `since` after the lines leaves
/// none of them.
async fn logs_honour_tail_and_since<R: Runtime>(s: Subject<R>) {
    let model = s.model("logs");
    let started = s
        .start(&model, &s.image, &[("DSDL_TEST_LOG_LINES", "40")])
        .await
        .unwrap();
    let id = started["updated_config"]["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    let query = |pairs: &[(&str, &str)]| {
        let mut all = vec![("model".to_string(), model.clone())];
        all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        LogQuery::from_fields(&Fields::from_pairs(&all)).unwrap()
    };
    let read = |q: LogQuery| {
        let rt = s.rt.clone();
        let id = id.clone();
        async move {
            let body = read_logs(rt.as_ref(), &q, &id).await.unwrap();
            body["container_logs"]["entries"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    // The lines are written at start; wait until the last one is readable.
    let until = Instant::now() + Duration::from_secs(10);
    let all = loop {
        let entries = read(query(&[("tail", "100")])).await;
        let has_last = entries.iter().any(|e| {
            e["log"]
                .as_str()
                .is_some_and(|l| l.contains("000040 of 40"))
        });
        if has_last || Instant::now() >= until {
            break entries;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let numbered: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["log"]
                .as_str()
                .is_some_and(|l| l.contains("línea ✓ 日本"))
        })
        .collect();
    assert_eq!(
        numbered.len(),
        40,
        "every numbered line within tail=100: {all:?}"
    );
    let streams: Vec<&str> = numbered
        .iter()
        .filter_map(|e| e["stream"].as_str())
        .collect();
    if s.separate_streams {
        assert_eq!(streams.iter().filter(|s| **s == "stdout").count(), 20);
        assert_eq!(streams.iter().filter(|s| **s == "stderr").count(), 20);
    } else {
        // One stream as the API gives it, both kinds of lines in it.
        assert!(streams.iter().all(|s| *s == "console"), "{streams:?}");
        assert_eq!(
            numbered
                .iter()
                .filter(|e| e["log"].as_str().is_some_and(|l| l.contains(" stderr ")))
                .count(),
            20
        );
    }
    // A smaller tail is the newest lines of the same log, oldest first.
    let three = read(query(&[("tail", "3")])).await;
    assert_eq!(three.len(), 3, "{three:?}");
    let newest = read(query(&[("tail", "100")])).await;
    assert_eq!(
        three.iter().map(|e| &e["log"]).collect::<Vec<_>>(),
        newest[newest.len() - 3..]
            .iter()
            .map(|e| &e["log"])
            .collect::<Vec<_>>(),
        "tail=3 is the last three lines"
    );
    let later = (jiff::Timestamp::now().as_second() + 5).to_string();
    let body = read_logs(s.rt.as_ref(), &query(&[("since", &later)]), &id)
        .await
        .unwrap();
    let after: Vec<&Value> = body["container_logs"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["log"].as_str().is_some_and(|l| l.contains("línea")))
        .collect();
    assert!(after.is_empty(), "since after the lines: {after:?}");
    s.stop(&model).await;
}

/// A workload of this search head that no record names is an orphan: reported, left running.
async fn orphans_are_reported_and_left_alone<R: Runtime>(s: Subject<R>) {
    let model = s.model("orphan");
    let started = s.start(&model, &s.image, &[]).await.unwrap();
    let id = started["updated_config"]["container_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(s.records.delete(&model).await.unwrap());
    let (_, orphans) = s.live(&model).await;
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    assert_eq!(orphans[0]["id"], id.as_str());
    assert_eq!(orphans[0]["model"], model.as_str());
    let still = s.rt.find(&id).await.unwrap().expect("left alone");
    assert!(matches!(
        state::find(
            &Stanza::from_pairs("x", &[("id", &id)]),
            std::slice::from_ref(&still.observed)
        ),
        Live::Seen(o) if o.state == dsdl_handler::runtime::state::State::Running
    ));
    assert_eq!(
        s.stop(&model).await,
        vec![id],
        "a stop by model name still finds it"
    );
}

/// The reply of a start carries the fields the toolkit's UI reads.
async fn a_start_reply_has_the_toolkit_fields<R: Runtime>(s: Subject<R>) {
    let model = s.model("reply");
    let body = s.start(&model, &s.image, &[]).await.unwrap();
    let config = &body["updated_config"];
    for key in [
        "container_id",
        "container_name",
        "api_url",
        "api_url_external",
        "phase",
    ] {
        assert!(
            config[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {body}"
        );
    }
    assert_eq!(
        config["container_name"],
        names::runtime_name(&model).as_str()
    );
    assert_eq!(config["cluster"], json!(s.rt.kind().as_str()));
    s.stop(&model).await;
}

/// One test per behaviour per runtime.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod fake {
            $(
                #[test]
                fn $behaviour() {
                    super::block_on(super::$behaviour(super::fake_subject()));
                }
            )*
        }
        mod kubernetes {
            $(
                #[test]
                fn $behaviour() {
                    super::block_on(async {
                        super::$behaviour(super::kube_subject().await).await;
                    });
                }
            )*
        }
        mod docker {
            $(
                #[test]
                fn $behaviour() {
                    super::block_on(async {
                        if let Some(s) = super::docker_subject(stringify!($behaviour)).await {
                            super::$behaviour(s).await;
                        }
                    });
                }
            )*
        }
    };
}

conformance!(
    a_repeated_start_changes_nothing,
    another_spec_is_a_conflict,
    concurrent_starts_meet_on_one_workload,
    stop_is_idempotent,
    a_missing_workload_is_reported,
    a_dead_workload_shows_its_exit,
    logs_honour_tail_and_since,
    orphans_are_reported_and_left_alone,
    a_start_reply_has_the_toolkit_fields,
);
