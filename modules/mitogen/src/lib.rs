//! The `mitogen` module: the connection contexts (`mitogen::Local`, `Ssh`, `Sudo`) and the
//! `std::Host.via` relation that say how an agent reaches the machine of a resource. This
//! crate ships the model (no resource types of its own) and the `via` field every fs, exec
//! and apt resource exports ([`via`]), as the real module's resource base class does.

use cairn_compiler::export::{FieldCtx, FieldError, JsonValue, Obj};
use cairn_module::{ModelFile, Module};

pub fn module() -> Module {
    Module {
        name: "mitogen",
        model: vec![ModelFile { namespace: "mitogen", file_name: "_init.cf", text: include_str!("../model/_init.cf") }],
        plugins: cairn_module::no_plugins,
        resources: Vec::new(),
        dependency_managers: Vec::new(),
    }
}

/// The `via` field of a resource: the context that reaches its machine, serialised. In order:
/// the resource's own `via`; its host's `via`; an ssh context made from the host's `ip`,
/// `remote_user`, `remote_port` and its OS's `python_cmd` (`python3` when that is null),
/// through sudo when the user is not root; else the resource cannot be exported.
pub fn via(ctx: &mut FieldCtx<'_, '_>) -> Result<JsonValue, FieldError> {
    let this = ctx.this();
    let own = this.get("via");
    if own.is_unknown() {
        return Err(FieldError::Unknown);
    }
    if let Some(context) = this.instance(own) {
        return serialize(context, 0);
    }
    let Some(host) = this.relation("host") else {
        return Err(FieldError::Failed(
            "[No host relation] cannot serialize a mitogen::Context: the resource has neither a `via` nor a `host`".to_string(),
        ));
    };
    if !host.is_a("std::Host") {
        return Err(FieldError::Failed(format!(
            "[No std::Host entity] cannot serialize a mitogen::Context: the resource has no `via` and its host is a `{}`, not a \
             `std::Host`",
            host.entity()
        )));
    }
    let host_via = host.get("via");
    if host_via.is_unknown() {
        return Err(FieldError::Unknown);
    }
    if let Some(context) = host.instance(host_via) {
        return serialize(context, 0);
    }
    let ip = host.get("ip");
    if ip.is_unknown() {
        return Err(FieldError::Unknown);
    }
    let name = host.get("name");
    if ip.is_null() {
        let name = name.as_str().unwrap_or_default();
        return Err(FieldError::Failed(format!(
            "[No ip] cannot serialize a mitogen::Context: neither the resource nor its host `{name}` has a `via`, and the host has \
             no `ip` to reach it by; give the host an `ip` or a `via` (`via=mitogen::Local()` for the machine the agent runs on)"
        )));
    }
    let user = host.get("remote_user");
    let port = host.get("remote_port");
    let python = host.relation("os").map(|os| os.get("python_cmd")).filter(|cmd| !cmd.is_null());
    if [name, user, port].iter().chain(python.iter()).any(|attr| attr.is_unknown()) {
        return Err(FieldError::Unknown);
    }
    let text = |s: &str| JsonValue::Str(s.to_string());
    // Keys in sorted order (the order of the canonical form the desired-state hash reads).
    let ssh = JsonValue::Object(vec![
        ("check_host_keys".into(), text("ignore")),
        ("hostname".into(), host.json_attr(ip)),
        ("method_name".into(), text("ssh")),
        ("name".into(), host.json_attr(name)),
        ("port".into(), host.json_attr(port)),
        ("python_path".into(), JsonValue::List(vec![python.map_or_else(|| text("python3"), |cmd| host.json_attr(cmd))])),
        (
            "ssh_args".into(),
            JsonValue::List(["-o", "UserKnownHostsFile=/dev/null", "-o", "PasswordAuthentication=no"].map(text).to_vec()),
        ),
        ("username".into(), host.json_attr(user)),
    ]);
    if user.as_str() == Some("root") {
        return Ok(ssh);
    }
    Ok(JsonValue::Object(vec![("method_name".into(), text("sudo")), ("name".into(), text("")), ("via".into(), ssh)]))
}

/// How many contexts a chain may hold: a longer one loops (`a.via = b`, `b.via = a`).
const MAX_CHAIN: usize = 64;

/// A `mitogen::Context` as an object of its attributes that are not null (relations left
/// out), with the context it is reached through nested as `via`; `depth` contexts came before.
fn serialize(context: Obj<'_>, depth: usize) -> Result<JsonValue, FieldError> {
    if depth >= MAX_CHAIN {
        return Err(FieldError::Failed(format!("the chain of mitogen contexts is longer than {MAX_CHAIN}: its `via` relations loop")));
    }
    if !context.is_a("mitogen::Context") {
        return Err(FieldError::Failed(format!(
            "cannot serialize this `{}` as a mitogen::Context: it does not extend mitogen::Context",
            context.entity()
        )));
    }
    let mut fields = Vec::new();
    for (name, attr) in context.attributes() {
        if attr.is_unknown() {
            return Err(FieldError::Unknown);
        }
        if !attr.is_null() {
            fields.push((name.to_string(), context.json_attr(attr)));
        }
    }
    if let Some(next) = context.relation("via") {
        fields.push(("via".to_string(), serialize(next, depth + 1)?));
    }
    // Sorted by key, as the canonical form the desired-state hash reads them.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(JsonValue::Object(fields))
}
