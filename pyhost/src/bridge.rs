//! One compile's plugin host, shared by the executor (plugin calls) and the export (fields of
//! Python-declared resources): started on first use, answered questions about instances while
//! a call runs, stopped at a time limit, restarted (a few times) after it died. Every failure
//! becomes a [`ForeignFailure`] the caller turns into a diagnostic at its call site.

use crate::codec::{decode, encode};
use crate::process::{HostCommand, HostFailure, HostProcess};
use cairn_compiler::compile::loader::ModuleInfo;
use cairn_compiler::compile::plugins::{ForeignFailure, ForeignOutcome, ForeignPlugins, PluginFailure, PluginHost};
use cairn_compiler::compile::value::{InstanceId, Value};
use cairn_compiler::project::ModuleKind;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The protocol version this side speaks.
pub const PROTOCOL: u64 = 1;
/// How many times a compile starts a host (the first start and the restarts after a crash or a
/// time limit).
const MAX_STARTS: u32 = 4;
/// How long the host may take to import the modules and say it is ready.
const READY_LIMIT: Duration = Duration::from_secs(120);

/// What a compile tells its host.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The interpreter (a virtualenv's `bin/python`, or `python3` from `PATH`); `None` when
    /// there is none.
    pub python: Option<PathBuf>,
    /// Where the host's own code is put (`~/.cache`).
    pub cache: PathBuf,
    /// Run the host from this folder instead of the code embedded in the binary (for work on
    /// the host itself: `CAIRN_PYHOST_DIR`).
    pub host_dir: Option<PathBuf>,
    pub project: PathBuf,
    /// The host process's whole environment.
    pub env: BTreeMap<String, String>,
    /// Compile settings plugins may ask for (`environment`).
    pub settings: BTreeMap<String, String>,
    /// How long one call may run.
    pub call_limit: Duration,
}

/// A module with Python code, as `hello` names it.
#[derive(Clone, Debug, PartialEq)]
pub struct PyModule {
    pub name: String,
    pub kind: ModuleKind,
    pub path: PathBuf,
}

/// A plugin as the host described it.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginInfo {
    pub name: String,
    pub params: Vec<ParamInfo>,
    pub returns: Option<String>,
}

/// A plugin parameter as the host described it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    /// Its annotation as an Inmanta type (`string`, `ip::cidr_v10?`), if any.
    pub ty: Option<String>,
    /// Python's parameter kind (`positional_or_keyword`, `keyword_only`, `var_positional`, ...).
    pub kind: String,
}

impl ParamInfo {
    /// A model typedef the host cannot check itself: a namespaced name whose last part is not
    /// an entity's (entities are capitalised), maybe nullable or a list.
    fn typedef(&self) -> Option<&str> {
        let ty = self.ty.as_deref()?;
        let bare = ty.trim_end_matches('?').trim_end_matches("[]");
        let (_, last) = bare.rsplit_once("::")?;
        last.chars().next().is_some_and(|c| !c.is_uppercase()).then_some(ty)
    }
}

/// A resource type declared in Python.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceInfo {
    pub entity: String,
    pub module: String,
    pub agent: String,
    pub id_attribute: String,
    /// `(field, mapped)`: mapped fields are computed by the class.
    pub fields: Vec<(String, bool)>,
    /// Whether the class maps its id attribute (`get_ID`, `map`).
    pub id_mapped: bool,
    /// `resource`, `purgeable` or `managed`.
    pub kind: String,
}

/// What the host said when it was ready.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    pub python: String,
    pub plugins: BTreeMap<String, PluginInfo>,
    pub resources: BTreeMap<String, ResourceInfo>,
    /// Modules whose Python failed to import: the failure.
    pub errors: BTreeMap<String, ForeignFailure>,
}

/// How often and how long the host worked, for `CAIRN_EXEC_STATS` and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostStats {
    pub starts: u32,
    pub calls: u64,
    pub maps: u64,
    pub questions: u64,
    pub busy: Duration,
}

struct Inner {
    config: HostConfig,
    modules: Vec<PyModule>,
    process: Option<HostProcess>,
    ready: Option<Ready>,
    /// Why the host cannot be used any more this compile.
    broken: Option<ForeignFailure>,
    stats: HostStats,
}

/// The plugin host of one compile; clones share it.
#[derive(Clone)]
pub struct PythonHost {
    inner: Arc<Mutex<Inner>>,
}

/// What a running request asks of Cairn: the executor's view of the model during a compile,
/// the export's after it.
pub(crate) trait Answers {
    fn attribute(&mut self, instance: u32, name: &str) -> Answer;
    fn is_a(&self, instance: u32, entity: &str) -> bool;
    fn attribute_names(&self, instance: u32) -> Vec<String>;
    fn entity(&self, instance: u32) -> Option<String>;
    fn print(&mut self, text: String);
}

pub(crate) enum Answer {
    Value(Value),
    Wait,
    NotFound(String),
}

/// How a request ended.
pub(crate) enum Final {
    Return(Value),
    Wait,
    Ignore,
    Failed(ForeignFailure),
}

impl PythonHost {
    pub fn new(config: HostConfig) -> PythonHost {
        let inner = Inner { config, modules: Vec::new(), process: None, ready: None, broken: None, stats: HostStats::default() };
        PythonHost { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-written that matters here.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_modules(&self, modules: Vec<PyModule>) {
        self.lock().modules = modules;
    }

    pub fn modules(&self) -> Vec<PyModule> {
        self.lock().modules.clone()
    }

    /// Whether a host process was started during this compile.
    pub fn started(&self) -> bool {
        self.lock().stats.starts > 0
    }

    pub fn stats(&self) -> HostStats {
        self.lock().stats
    }

    /// What the host loaded; starts it if needed.
    pub fn ready(&self) -> Result<Ready, ForeignFailure> {
        let mut inner = self.lock();
        inner.ensure_started()?;
        Ok(inner.ready.clone().unwrap_or_default())
    }

    /// Stops the host (it is also stopped when the last clone is dropped).
    pub fn stop(&self) {
        let mut inner = self.lock();
        if let Some(mut process) = inner.process.take() {
            let _ = process.send(&json!({"op": "bye"}));
            process.kill();
        }
    }

    /// Runs a request to its final answer, answering the host's questions.
    pub(crate) fn request(&self, message: Json, what: &str, answers: &mut dyn Answers) -> Final {
        let mut inner = self.lock();
        if let Err(failure) = inner.ensure_started() {
            return Final::Failed(failure);
        }
        let started = Instant::now();
        let result = inner.exchange(message, what, answers);
        inner.stats.busy += started.elapsed();
        result
    }
}

impl Inner {
    fn ensure_started(&mut self) -> Result<(), ForeignFailure> {
        if self.process.is_some() {
            return Ok(());
        }
        if let Some(broken) = &self.broken {
            return Err(broken.clone());
        }
        if self.stats.starts >= MAX_STARTS {
            let failure = ForeignFailure {
                message: format!("the plugin host was started {MAX_STARTS} times in this compile and failed each time; it is not started again"),
                note: None,
            };
            self.broken = Some(failure.clone());
            return Err(failure);
        }
        self.stats.starts += 1;
        let script = match &self.config.host_dir {
            Some(dir) => dir.join(crate::install::ENTRY),
            None => crate::install::install(&self.config.cache).map_err(|message| self.give_up(message))?,
        };
        let Some(python) = self.config.python.clone() else {
            return Err(self.give_up(FailureText {
                message: "there is no Python interpreter to run the module's Python code: no virtualenv, and no python3 on PATH".into(),
                note: Some("install python3, or name a virtualenv with --venv (CAIRN_VENV)".into()),
            }));
        };
        let command = HostCommand {
            python,
            script,
            cwd: self.config.project.clone(),
            env: self.config.env.clone(),
        };
        let mut process = HostProcess::spawn(&command).map_err(|failure| self.give_up(describe(&failure, "starting the plugin host")))?;
        let modules: Vec<Json> = self
            .modules
            .iter()
            .map(|m| json!({"name": m.name, "kind": if m.kind == ModuleKind::V1 { "v1" } else { "v2" }, "path": m.path.to_string_lossy()}))
            .collect();
        let hello = json!({
            "op": "hello",
            "protocol": PROTOCOL,
            "project": self.config.project.to_string_lossy(),
            "modules": modules,
            "settings": self.config.settings,
        });
        let answer = process.send(&hello).and_then(|()| process.receive(Instant::now() + READY_LIMIT));
        let ready = match answer {
            Ok(message) if message.get("op").and_then(Json::as_str) == Some("ready") => parse_ready(&message),
            Ok(other) => Err(HostFailure::Protocol(format!("the host answered hello with {}", shorten(&other.to_string())))),
            Err(failure) => Err(failure),
        };
        match ready {
            Ok(ready) => {
                self.ready = Some(ready);
                self.process = Some(process);
                Ok(())
            }
            Err(failure) => {
                let message = describe(&failure, "starting the plugin host");
                process.kill();
                Err(ForeignFailure { message: message.message, note: message.note })
            }
        }
    }

    /// A failure that will not get better by trying again (no interpreter, no cache folder).
    fn give_up(&mut self, failure: impl Into<FailureText>) -> ForeignFailure {
        let FailureText { message, note } = failure.into();
        let failure = ForeignFailure { message, note };
        self.broken = Some(failure.clone());
        failure
    }

    fn exchange(&mut self, message: Json, what: &str, answers: &mut dyn Answers) -> Final {
        let deadline = Instant::now() + self.config.call_limit;
        let Some(process) = self.process.as_mut() else {
            return Final::Failed(ForeignFailure { message: "the plugin host is not running".into(), note: None });
        };
        let mut outcome = process.send(&message).map(|()| None);
        while let Ok(None) = outcome {
            outcome = match process.receive(deadline) {
                Ok(message) => handle(message, process, answers, &self.config.settings, &mut self.stats.questions),
                Err(failure) => Err(failure),
            };
        }
        match outcome {
            Ok(Some(done)) => done,
            Ok(None) => unreachable_final(),
            Err(failure) => {
                // A host that timed out, died or spoke nonsense is not trusted again: the next
                // request starts a new one.
                if let Some(mut process) = self.process.take() {
                    process.kill();
                }
                let text = match failure {
                    HostFailure::Timeout => FailureText {
                        message: format!("{what} did not finish within {} s and was stopped", self.config.call_limit.as_secs_f64()),
                        note: Some("the limit is set with --plugin-timeout (CAIRN_PLUGIN_TIMEOUT)".into()),
                    },
                    other => describe(&other, what),
                };
                Final::Failed(ForeignFailure { message: text.message, note: text.note })
            }
        }
    }
}

fn unreachable_final() -> Final {
    Final::Failed(ForeignFailure { message: "the plugin host gave no answer".into(), note: None })
}

/// Answers one message of the host: a question (then `None`: the request goes on) or the
/// final answer.
fn handle(
    message: Json,
    process: &mut HostProcess,
    answers: &mut dyn Answers,
    settings: &BTreeMap<String, String>,
    questions: &mut u64,
) -> Result<Option<Final>, HostFailure> {
    let op = message.get("op").and_then(Json::as_str).unwrap_or_default().to_string();
    let instance = message.get("instance").and_then(Json::as_u64).and_then(|n| u32::try_from(n).ok());
    let entity = |answers: &dyn Answers, id: InstanceId| answers.entity(id.0).unwrap_or_default();
    let reply = match op.as_str() {
        "get" => {
            *questions += 1;
            let (Some(instance), Some(attr)) = (instance, message.get("attr").and_then(Json::as_str)) else {
                return Err(HostFailure::Protocol(format!("a get without instance or attr: {}", shorten(&message.to_string()))));
            };
            if answers.entity(instance).is_none() {
                json!({"error": format!("there is no instance {instance}"), "kind": "NotFound"})
            } else {
                match answers.attribute(instance, attr) {
                    Answer::Value(value) => json!({"value": encode(&value, &|id| entity(&*answers, id))}),
                    Answer::Wait => json!({"wait": true}),
                    Answer::NotFound(message) => json!({"error": message, "kind": "NotFound"}),
                }
            }
        }
        "isa" => {
            let target = message.get("entity").and_then(Json::as_str).unwrap_or_default();
            json!({"value": instance.is_some_and(|i| answers.is_a(i, target))})
        }
        "attributes" => json!({"value": instance.map(|i| answers.attribute_names(i)).unwrap_or_default()}),
        "setting" => {
            let key = message.get("key").and_then(Json::as_str).unwrap_or_default();
            json!({"value": settings.get(key)})
        }
        "print" => {
            answers.print(message.get("text").and_then(Json::as_str).unwrap_or_default().to_string());
            return Ok(None);
        }
        "return" => {
            let value = message.get("value").cloned().unwrap_or(Json::Null);
            let valid = |n: u32| answers.entity(n).is_some();
            return Ok(Some(match decode(&value, &valid) {
                Ok(value) => Final::Return(value),
                Err(error) => Final::Failed(ForeignFailure { message: format!("it returned a value Cairn cannot hold: {}", error.0), note: None }),
            }));
        }
        "raise" => return Ok(Some(Final::Failed(raised(&message)))),
        "wait" => return Ok(Some(Final::Wait)),
        "ignore" => return Ok(Some(Final::Ignore)),
        _ => return Err(HostFailure::Protocol(format!("the host sent an unknown message: {}", shorten(&message.to_string())))),
    };
    process.send(&reply)?;
    Ok(None)
}

/// A Python exception, as `raise` reports it.
fn raised(message: &Json) -> ForeignFailure {
    let kind = message.get("kind").and_then(Json::as_str).unwrap_or("Exception");
    let text = message.get("message").and_then(Json::as_str).unwrap_or_default();
    let frames: Vec<&str> = message.get("traceback").and_then(Json::as_array).map(|f| f.iter().filter_map(Json::as_str).collect()).unwrap_or_default();
    let message = if text.is_empty() { kind.to_string() } else { format!("{kind}: {text}") };
    let note = (!frames.is_empty()).then(|| format!("Python traceback (innermost last):\n{}", frames.join("\n")));
    ForeignFailure { message, note }
}

struct FailureText {
    message: String,
    note: Option<String>,
}

impl From<String> for FailureText {
    fn from(message: String) -> Self {
        FailureText { message, note: None }
    }
}

fn describe(failure: &HostFailure, what: &str) -> FailureText {
    match failure {
        HostFailure::Timeout => FailureText { message: format!("{what}: the plugin host did not answer in time"), note: None },
        HostFailure::Exited { status, tail } => FailureText {
            message: format!("the plugin host exited ({status}) during {what}"),
            note: (!tail.is_empty()).then(|| format!("its last output:\n{}", tail.join("\n"))),
        },
        HostFailure::Protocol(problem) => FailureText { message: format!("{what}: {problem}"), note: None },
        HostFailure::Io(problem) => FailureText {
            message: format!("{what}: {problem}"),
            note: Some("Python 3 is needed to run a module's Python plugins (a virtualenv's bin/python, or python3 on PATH)".into()),
        },
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= 200 {
        return text.to_string();
    }
    let mut cut = 200;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

fn parse_ready(message: &Json) -> Result<Ready, HostFailure> {
    let protocol = message.get("protocol").and_then(Json::as_u64);
    if protocol != Some(PROTOCOL) {
        return Err(HostFailure::Protocol(format!("the host speaks protocol {protocol:?}, not {PROTOCOL}")));
    }
    let empty = Map::new();
    let object = |key: &str| message.get(key).and_then(Json::as_object).unwrap_or(&empty).clone();
    let mut ready = Ready { python: message.get("python").and_then(Json::as_str).unwrap_or_default().to_string(), ..Ready::default() };
    for (name, info) in object("plugins") {
        let params = info
            .get("params")
            .and_then(Json::as_array)
            .map(|params| {
                params
                    .iter()
                    .map(|p| {
                        let text = |key: &str| p.get(key).and_then(Json::as_str).map(str::to_string);
                        ParamInfo { name: text("name").unwrap_or_default(), ty: text("type"), kind: text("kind").unwrap_or_default() }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let returns = info.get("returns").and_then(Json::as_str).map(str::to_string);
        ready.plugins.insert(name.clone(), PluginInfo { name, params, returns });
    }
    for (entity, info) in object("resources") {
        let text = |key: &str| info.get(key).and_then(Json::as_str).unwrap_or_default().to_string();
        let fields = info
            .get("fields")
            .and_then(Json::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| Some((f.get("name")?.as_str()?.to_string(), f.get("mapped").and_then(Json::as_bool).unwrap_or(false))))
                    .collect()
            })
            .unwrap_or_default();
        let resource = ResourceInfo {
            entity: entity.clone(),
            module: text("module"),
            agent: text("agent"),
            id_attribute: text("id_attribute"),
            id_mapped: info.get("id_mapped").and_then(Json::as_bool).unwrap_or(false),
            fields,
            kind: text("kind"),
        };
        ready.resources.insert(entity, resource);
    }
    for (module, error) in object("errors") {
        ready.errors.insert(module, raised(&json!({"kind": "", "message": error.get("message"), "traceback": error.get("traceback")})));
    }
    for failure in ready.errors.values_mut() {
        failure.message = failure.message.trim_start_matches(": ").to_string();
    }
    Ok(ready)
}

/// The executor's view, during a compile.
struct CompileAnswers<'h> {
    host: &'h mut dyn PluginHost,
    known: KnownInstances,
}

/// The instance numbers a call has seen: those its arguments hold and those it read since. A
/// host names no others (it cannot invent instances).
#[derive(Default)]
struct KnownInstances(std::collections::BTreeSet<u32>);

impl KnownInstances {
    fn add_within(&mut self, value: &Value) {
        match value {
            Value::Instance(id) => {
                self.0.insert(id.0);
            }
            Value::List(items) => items.iter().for_each(|item| self.add_within(item)),
            Value::Dict(dict) => dict.values().for_each(|item| self.add_within(item)),
            _ => {}
        }
    }

    fn contains(&self, id: u32) -> bool {
        self.0.contains(&id)
    }
}

impl Answers for CompileAnswers<'_> {
    fn attribute(&mut self, instance: u32, name: &str) -> Answer {
        match self.host.attribute(InstanceId(instance), name) {
            Ok(value) => {
                self.known.add_within(&value);
                Answer::Value(value)
            }
            Err(PluginFailure::Wait(_)) => Answer::Wait,
            Err(PluginFailure::Error(message) | PluginFailure::Explained { message, .. }) => Answer::NotFound(message),
        }
    }

    fn is_a(&self, instance: u32, entity: &str) -> bool {
        self.known.contains(instance) && self.host.is_instance_of(InstanceId(instance), entity)
    }

    fn attribute_names(&self, instance: u32) -> Vec<String> {
        if self.known.contains(instance) {
            self.host.attribute_names(InstanceId(instance))
        } else {
            Vec::new()
        }
    }

    fn entity(&self, instance: u32) -> Option<String> {
        self.known.contains(instance).then(|| self.host.entity_name(InstanceId(instance)))
    }

    fn print(&mut self, text: String) {
        for line in text.lines() {
            self.host.print(line.to_string());
        }
    }
}

impl ForeignPlugins for PythonHost {
    fn modules_loaded(&self, modules: &[&ModuleInfo]) {
        let modules = modules
            .iter()
            .filter_map(|m| Some(PyModule { name: m.name.clone(), kind: m.kind, path: m.python.clone()? }))
            .collect();
        self.set_modules(modules);
    }

    fn call(&self, names: &[Rc<str>], args: &[Value], kwargs: &[(Rc<str>, Value)], host: &mut dyn PluginHost) -> ForeignOutcome {
        let ready = match self.ready() {
            Ok(ready) => ready,
            Err(failure) => return ForeignOutcome::Failed(failure),
        };
        let Some(name) = names.iter().find(|n| ready.plugins.contains_key(&***n)) else {
            let wanted = names.first().map(|n| n.to_string()).unwrap_or_default();
            let module = wanted.split("::").next().unwrap_or_default();
            if let Some(failure) = ready.errors.get(module) {
                return ForeignOutcome::Failed(ForeignFailure {
                    message: format!("the Python code of module `{module}` failed to import: {}", failure.message),
                    note: failure.note.clone(),
                });
            }
            return ForeignOutcome::Failed(ForeignFailure { message: format!("could not find plugin `{wanted}` in the module's Python code"), note: None });
        };
        if let Some(info) = ready.plugins.get(&**name) {
            if let Some(failure) = check_typedef_arguments(info, args, kwargs, host) {
                return failure;
            }
        }
        let mut answers = CompileAnswers { host, known: KnownInstances::default() };
        for value in args.iter().chain(kwargs.iter().map(|(_, v)| v)) {
            answers.known.add_within(value);
        }
        let entity = |id: InstanceId| answers.host.entity_name(id);
        let message = json!({
            "op": "call",
            "plugin": &**name,
            "args": args.iter().map(|a| encode(a, &entity)).collect::<Vec<_>>(),
            "kwargs": kwargs.iter().map(|(k, v)| json!([&**k, encode(v, &entity)])).collect::<Vec<_>>(),
        });
        self.lock().stats.calls += 1;
        match self.request(message, &format!("plugin `{name}`"), &mut answers) {
            Final::Return(value) => ForeignOutcome::Value(value),
            Final::Wait => ForeignOutcome::Wait,
            Final::Ignore => ForeignOutcome::Failed(ForeignFailure { message: "IgnoreResourceException raised by a plugin".into(), note: None }),
            Final::Failed(failure) => ForeignOutcome::Failed(failure),
        }
    }
}

/// Checks the arguments whose parameters name typedefs of the model (the host checks the
/// other annotations itself), as Inmanta does before it calls the plugin.
fn check_typedef_arguments(info: &PluginInfo, args: &[Value], kwargs: &[(Rc<str>, Value)], host: &mut dyn PluginHost) -> Option<ForeignOutcome> {
    let positional = info.params.iter().filter(|p| p.kind == "positional_only" || p.kind == "positional_or_keyword");
    let by_position = positional.zip(args.iter());
    let by_name = kwargs.iter().filter_map(|(name, value)| Some((info.params.iter().find(|p| p.name == **name)?, value)));
    for (param, value) in by_position.chain(by_name) {
        let Some(typedef) = param.typedef() else { continue };
        match host.conforms_to_typedef(typedef, value) {
            Ok(Some(false)) => {
                let shown = host.render(value);
                return Some(ForeignOutcome::Failed(ForeignFailure {
                    message: format!("invalid value {shown:?} for parameter `{}`: does not match the constraint of `{typedef}`", param.name),
                    note: None,
                }));
            }
            Ok(_) => {}
            Err(PluginFailure::Wait(_)) => return Some(ForeignOutcome::Wait),
            Err(PluginFailure::Error(message) | PluginFailure::Explained { message, .. }) => {
                return Some(ForeignOutcome::Failed(ForeignFailure { message, note: None }))
            }
        }
    }
    None
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.send(&json!({"op": "bye"}));
            process.kill();
        }
    }
}
