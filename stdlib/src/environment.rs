//! The plugins that read the compile's surroundings: the orchestrator environment and
//! server (`environment`, `environment_name`, `environment_server`, `server_ca`,
//! `server_ssl`, `server_token`, `server_port`), process variables (`get_env`,
//! `get_env_int`), facts (`getfact`), the clock (`timestamp`) and passwords
//! (`generate_password`, `password`).
//!
//! Everything comes from the embedder: the settings (`host.setting(key)`) and the environment
//! variables it passes in (`host.env_var(name)`; `cairn` passes its own process environment,
//! tests a map), so a compile is a function of its inputs. The settings keys:
//!
//! | key | used by | when absent |
//! | --- | --- | --- |
//! | `environment` | `environment`, `environment_name` | error, as Inmanta's "should be configured in config>environment" |
//! | `environment_name` | `environment_name` | unknown |
//! | `server_host` | `environment_server` | `localhost` (Inmanta's client default) |
//! | `server_port` | `server_port` | `8888` |
//! | `server_ssl` | `server_ssl` (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) | `false` |
//! | `server_ca` | `server_ca`: the CA certificate's PEM text | `""` |
//! | `server_token` | `server_token`: the token handed to agents | `""` (no authentication) |
//! | `timestamp` | `timestamp`: seconds since the epoch | the system clock |
//! | `password_secret` | `generate_password`, `password` | see below |
//! | `password:<id>` | `generate_password`, `password`: a stored password | derived, see below |
//!
//! Passwords: Inmanta's `generate_password` draws a random password and stores it in the
//! project's `passwordfile.txt`, so later compiles see the same one. Cairn derives it
//! instead: the password for `pw_id` is HMAC-SHA-256(`password_secret`, `pw_id`) stretched
//! with a counter and mapped without bias onto `[A-Za-z0-9]` (the alphabet Inmanta uses).
//! Same secret and id, same password, on every compile and machine, and nothing to store;
//! the embedder keeps one random secret per project (and may answer `password:<id>` from an
//! Inmanta `passwordfile.txt` to keep passwords generated before the move). Without a secret
//! there is nothing safe to derive from: `generate_password` returns an unknown value (the
//! resources that use it are not deployed yet) and `password` fails as Inmanta does for a
//! password that was never generated. A longer password for the same id starts with the
//! shorter one, whereas Inmanta keeps whichever length was asked first.

use crate::digest::hmac_sha256;
use crate::support::{describe, error, instance, int, items, text, PluginResult};
use cairn_compiler::compile::plugins::{Param, ParamType, PluginCtx, PluginFailure, PluginRegistry};
use cairn_compiler::compile::value::Value;

pub fn register(registry: &mut PluginRegistry) {
    use ParamType::{Any, Int, List, Nullable, String};
    registry.register("std::environment", vec![], |ctx, _| Ok(Value::str(&environment(ctx)?)));
    registry.register("std::environment_name", vec![], |ctx, _| {
        environment(ctx)?;
        Ok(setting_or(ctx, "environment_name", Value::Unknown))
    });
    registry.register("std::environment_server", vec![], |ctx, _| Ok(setting_or(ctx, "server_host", Value::str("localhost"))));
    registry.register("std::server_ca", vec![], |ctx, _| Ok(setting_or(ctx, "server_ca", Value::str(""))));
    registry.register("std::server_ssl", vec![], |ctx, _| match ctx.host.setting("server_ssl") {
        None => Ok(Value::Bool(false)),
        Some(raw) => parse_bool(&raw).map(Value::Bool).ok_or_else(|| error(format!("setting server_ssl: `{raw}` is not a boolean"))),
    });
    registry.register(
        "std::server_token",
        vec![Param::optional("client_types", List, Value::list(vec![Value::str("agent")]))],
        |ctx, a| {
            if let Some(bad) = items(&a[0]).iter().find(|t| !matches!(t, Value::Str(_))) {
                return Err(error(format!("client_types should hold strings, got {}", describe(bad))));
            }
            Ok(setting_or(ctx, "server_token", Value::str("")))
        },
    );
    registry.register("std::server_port", vec![], |ctx, _| match ctx.host.setting("server_port") {
        None => Ok(Value::Int(8888)),
        Some(raw) => raw.trim().parse::<i64>().map(Value::Int).map_err(|_| error(format!("setting server_port: `{raw}` is not a number"))),
    });
    registry.register(
        "std::get_env",
        vec![Param::new("name", String), Param::optional("default_value", Nullable(Box::new(String)), Value::Null)],
        |ctx, a| {
            Ok(match ctx.host.env_var(text(&a[0])) {
                Some(value) => Value::str(&value),
                None if !matches!(a[1], Value::Null) => a[1].clone(),
                None => Value::Unknown,
            })
        },
    );
    registry.register(
        "std::get_env_int",
        vec![Param::new("name", String), Param::optional("default_value", Nullable(Box::new(Int)), Value::Null)],
        |ctx, a| {
            let name = text(&a[0]);
            match ctx.host.env_var(name) {
                Some(raw) => raw
                    .trim()
                    .parse::<i64>()
                    .map(Value::Int)
                    .map_err(|_| error(format!("environment variable {name} is `{raw}`, which is not an int"))),
                None if !matches!(a[1], Value::Null) => Ok(a[1].clone()),
                None => Ok(Value::Unknown),
            }
        },
    );
    registry.register(
        "std::getfact",
        vec![Param::new("resource", Any), Param::new("fact_name", String), Param::optional("default_value", Any, Value::Null)],
        |ctx, a| {
            // Inmanta asks the resource's id, which only resources have.
            let resource = instance(&a[0], "the resource of getfact").ok().filter(|id| ctx.host.is_instance_of(*id, "std::Resource"));
            resource.ok_or_else(|| error("Facts can only be retrieved from resources."))?;
            // Facts are reported by agents after a deploy; a compile never knows them.
            Ok(if matches!(a[2], Value::Null) { Value::Unknown } else { a[2].clone() })
        },
    );
    registry.register("std::timestamp", vec![Param::optional("dummy", Any, Value::Null)], timestamp);
    registry.register(
        "std::generate_password",
        vec![Param::new("pw_id", String), Param::optional("length", Int, Value::Int(20))],
        |ctx, a| {
            let id = password_id(&a[0])?;
            if let Some(stored) = ctx.host.setting(&format!("password:{id}")) {
                return Ok(Value::str(&stored));
            }
            let length = usize::try_from(int(&a[1])).map_err(|_| error("length cannot be negative"))?;
            Ok(match ctx.host.setting("password_secret") {
                Some(secret) => Value::str(&derive_password(&secret, id, length)),
                None => Value::Unknown,
            })
        },
    );
    registry.register("std::password", vec![Param::new("pw_id", String)], |ctx, a| {
        let id = password_id(&a[0])?;
        if let Some(stored) = ctx.host.setting(&format!("password:{id}")) {
            return Ok(Value::str(&stored));
        }
        match ctx.host.setting("password_secret") {
            Some(secret) => Ok(Value::str(&derive_password(&secret, id, 20))),
            None => Err(error(format!(
                "Password {id} does not exist: no stored password and no password_secret to derive it from"
            ))),
        }
    });
}

fn environment(ctx: &PluginCtx<'_>) -> Result<std::string::String, PluginFailure> {
    ctx.host
        .setting("environment")
        .ok_or_else(|| error("The environment of this model should be configured in config>environment (setting `environment`)"))
}

fn setting_or(ctx: &PluginCtx<'_>, key: &str, default: Value) -> Value {
    ctx.host.setting(key).map(|v| Value::str(&v)).unwrap_or(default)
}

/// Inmanta's boolean option syntax.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `std::timestamp(dummy=null)`: the `timestamp` setting when given (reproducible compiles),
/// else the current Unix time in seconds.
fn timestamp(ctx: &mut PluginCtx<'_>, _: &[Value]) -> PluginResult {
    if let Some(raw) = ctx.host.setting("timestamp") {
        return raw.trim().parse::<i64>().map(Value::Int).map_err(|_| error(format!("setting timestamp: `{raw}` is not a number")));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| error(e.to_string()))?;
    Ok(Value::Int(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)))
}

fn password_id(value: &Value) -> Result<&str, PluginFailure> {
    let id = text(value);
    if id.contains('=') {
        return Err(error("The password id cannot contain ="));
    }
    Ok(id)
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The password for `id`: bytes of HMAC-SHA-256(secret, id || counter) for counter = 0, 1,
/// ...; a byte below 248 (= 4 * 62) picks `ALPHANUMERIC[byte % 62]`, others are skipped so
/// every character is equally likely.
pub fn derive_password(secret: &str, id: &str, length: usize) -> String {
    let mut out = String::with_capacity(length);
    let mut counter: u64 = 0;
    while out.len() < length {
        let mut message = id.as_bytes().to_vec();
        message.push(0);
        message.extend_from_slice(&counter.to_be_bytes());
        for byte in hmac_sha256(secret.as_bytes(), &message) {
            if out.len() == length {
                break;
            }
            if byte < 248 {
                out.push(char::from(ALPHANUMERIC[usize::from(byte % 62)]));
            }
        }
        counter += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_passwords() {
        let a = derive_password("secret", "db", 20);
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(a, derive_password("secret", "db", 20));
        assert_ne!(a, derive_password("secret", "db2", 20));
        assert_ne!(a, derive_password("other", "db", 20));
        assert!(derive_password("secret", "db", 100).starts_with(&a));
        assert_eq!(derive_password("secret", "db", 0), "");
        assert_eq!(derive_password("secret", "db", 1000).len(), 1000);
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}

#[cfg(test)]
mod plugin_tests {
    use crate::testing::FakeHost;
    use cairn_compiler::compile::value::Value;

    #[test]
    fn server_settings() {
        let mut host = FakeHost::default();
        assert_eq!(host.call("std::server_port", &[], None), Ok(Value::Int(8888)));
        assert_eq!(host.call("std::server_ssl", &[], None), Ok(Value::Bool(false)));
        assert_eq!(host.call("std::server_ca", &[], None), Ok(Value::str("")));
        assert_eq!(host.call("std::server_token", &[], None), Ok(Value::str("")));
        assert_eq!(host.call("std::environment_server", &[], None), Ok(Value::str("localhost")));
        assert!(host.call("std::environment", &[], None).is_err());
        assert!(host.call("std::environment_name", &[], None).is_err());
        for (k, v) in [("server_port", "8443"), ("server_ssl", "true"), ("server_token", "tok"), ("environment", "env-1"), ("server_host", "orch")] {
            host.settings.insert(k.to_string(), v.to_string());
        }
        assert_eq!(host.call("std::server_port", &[], None), Ok(Value::Int(8443)));
        assert_eq!(host.call("std::server_ssl", &[], None), Ok(Value::Bool(true)));
        assert_eq!(host.call("std::server_token", &[Value::list(vec![Value::str("api")])], None), Ok(Value::str("tok")));
        assert_eq!(host.call("std::environment", &[], None), Ok(Value::str("env-1")));
        assert_eq!(host.call("std::environment_name", &[], None), Ok(Value::Unknown));
        assert_eq!(host.call("std::environment_server", &[], None), Ok(Value::str("orch")));
        host.settings.insert("server_port".to_string(), "x".to_string());
        assert!(host.call("std::server_port", &[], None).is_err());
    }

    #[test]
    fn passwords_and_time() {
        let mut host = FakeHost::default();
        assert_eq!(host.call("std::generate_password", &[Value::str("db")], None), Ok(Value::Unknown));
        assert!(host.call("std::password", &[Value::str("db")], None).is_err());
        assert!(host.call("std::generate_password", &[Value::str("a=b")], None).is_err());
        host.settings.insert("password_secret".to_string(), "s3cret".to_string());
        let generated = host.call("std::generate_password", &[Value::str("db")], None);
        assert_eq!(generated, Ok(Value::str(&super::derive_password("s3cret", "db", 20))));
        assert_eq!(host.call("std::password", &[Value::str("db")], None), generated);
        let short = host.call("std::generate_password", &[Value::str("db"), Value::Int(8)], None);
        assert_eq!(short, Ok(Value::str(&super::derive_password("s3cret", "db", 8))));
        host.settings.insert("password:db".to_string(), "stored".to_string());
        assert_eq!(host.call("std::password", &[Value::str("db")], None), Ok(Value::str("stored")));
        assert_eq!(host.call("std::generate_password", &[Value::str("db")], None), Ok(Value::str("stored")));
        host.settings.insert("timestamp".to_string(), "1700000000".to_string());
        assert_eq!(host.call("std::timestamp", &[], None), Ok(Value::Int(1_700_000_000)));
        host.settings.clear();
        assert!(matches!(host.call("std::timestamp", &[], None), Ok(Value::Int(t)) if t > 1_700_000_000));
    }

    #[test]
    fn get_env_reads_the_variables_the_host_passes_in() {
        let mut host = FakeHost::default();
        // PATH is set in the test's own process: a plugin that read the process environment
        // would find it.
        assert!(std::env::var_os("PATH").is_some(), "the test process has a PATH");
        assert_eq!(host.call("std::get_env", &[Value::str("PATH")], None), Ok(Value::Unknown));
        assert_eq!(host.call("std::get_env", &[Value::str("PATH"), Value::str("none")], None), Ok(Value::str("none")));
        assert_eq!(host.call("std::get_env_int", &[Value::str("PATH"), Value::Int(7)], None), Ok(Value::Int(7)));
        host.env.insert("PATH".to_string(), "/from/the/host".to_string());
        host.env.insert("COUNT".to_string(), " 12 ".to_string());
        host.env.insert("WORD".to_string(), "twelve".to_string());
        assert_eq!(host.call("std::get_env", &[Value::str("PATH"), Value::str("none")], None), Ok(Value::str("/from/the/host")));
        assert_eq!(host.call("std::get_env_int", &[Value::str("COUNT")], None), Ok(Value::Int(12)));
        assert!(host.call("std::get_env_int", &[Value::str("WORD")], None).is_err());
    }

    #[test]
    fn facts() {
        let mut host = FakeHost::default();
        let resource = host.instance("std::testing::NullResource", &["name"], &[]);
        assert_eq!(host.call("std::getfact", &[resource.clone(), Value::str("ip")], None), Ok(Value::Unknown));
        assert_eq!(host.call("std::getfact", &[resource, Value::str("ip"), Value::str("none")], None), Ok(Value::str("none")));
        assert!(host.call("std::getfact", &[Value::str("x"), Value::str("ip")], None).is_err());
    }
}

#[cfg(test)]
mod compile_tests {
    use cairn_compiler::compile::plugins::PluginRegistry;
    use cairn_compiler::compile::{compile_project, Environment, Limits};
    use cairn_compiler::fs::MemFs;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Compiles `main` with std, the given environment variables and no settings; returns what
    /// it printed.
    fn printed(main: &str, vars: &BTreeMap<&str, &str>) -> Vec<String> {
        let mut plugins = PluginRegistry::new();
        crate::register(&mut plugins);
        let builtins = [crate::module().builtin()];
        let settings = |_: &str| None;
        let env_vars = |name: &str| vars.get(name).map(|v| v.to_string());
        let env = Environment { builtins: &builtins, plugins: &plugins, foreign: None, settings: &settings, env_vars: &env_vars, limits: Limits::default() };
        let mut fs = MemFs::new();
        fs.add("/p/project.yml", "name: p\n").add("/p/main.cf", main);
        let compilation = compile_project(&fs, Path::new("/p"), &env).expect("project loads");
        assert!(compilation.succeeded(), "{:#?}", compilation.diagnostics);
        compilation.execution.map(|e| e.output).unwrap_or_default()
    }

    #[test]
    fn a_compile_sees_the_environment_it_is_given_not_the_process_one() {
        assert!(std::env::var_os("PATH").is_some(), "the test process has a PATH");
        let main = "std::print(std::get_env(\"PATH\", \"no PATH\"))\nstd::print(std::get_env_int(\"CAIRN_COUNT\", 0))\n";
        assert_eq!(printed(main, &BTreeMap::new()), ["no PATH", "0"]);
        let vars = BTreeMap::from([("PATH", "/given"), ("CAIRN_COUNT", "3")]);
        assert_eq!(printed(main, &vars), ["/given", "3"]);
    }
}
