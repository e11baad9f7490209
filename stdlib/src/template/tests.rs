//! Unit tests of `std::template` with a fake host: where variables come from, lazy reads
//! (waiting, unknowns, relations), plugin filters, std's own template, errors, the cache.
//! The Jinja2 semantics case by case are in `tests/jinja` (the reference cases).

use super::filters::python_round;
use super::printf::printf;
use super::{dotted_names, jinja_source};
use crate::testing::FakeHost;
use cairn_compiler::compile::plugins::PluginFailure;
use cairn_compiler::compile::value::Value;
use minijinja::value::Value as Jv;

fn host_with(files: &[(&str, &str)]) -> FakeHost {
    let mut host = FakeHost::default();
    for (path, text) in files {
        host.files.insert(path.to_string(), text.to_string());
    }
    host
}

fn render(host: &mut FakeHost, path: &str, kwargs: &[(&str, Value)], this: Option<Value>) -> Result<Value, PluginFailure> {
    host.call_with("std::template", &[Value::str(path)], kwargs, this)
}

#[test]
fn keyword_arguments_are_the_only_variables() {
    let mut host = host_with(&[("web/templates/a.j2", "{{ name }}:{{ port }}\n")]);
    host.vars.insert("name".into(), Value::str("from-scope"));
    let out = render(&mut host, "web/a.j2", &[("name", Value::str("web")), ("port", Value::Int(80))], None);
    assert_eq!(out, Ok(Value::str("web:80")));
    let hidden = render(&mut host, "web/a.j2", &[("port", Value::Int(80))], None);
    assert!(matches!(hidden, Err(PluginFailure::Explained { ref message, ref hint })
        if message.contains("`name` is not defined") && hint.contains("'name' is undefined")), "{hidden:?}");
}

#[test]
fn without_keyword_arguments_the_calling_scope_is_read() {
    let mut host = host_with(&[("web/templates/a.j2", "{{ name }} {{ items }} {{ self }}")]);
    host.vars.insert("name".into(), Value::str("web"));
    host.vars.insert("items".into(), Value::list(vec![Value::str("a"), Value::Float(1.0)]));
    assert_eq!(render(&mut host, "web/a.j2", &[], None), Ok(Value::str("web @['a', 1.0] <TemplateReference 'a.j2'>")));
}

#[test]
fn instances_are_read_lazily_through_relations() {
    let mut host = host_with(&[("web/templates/h.j2", "{{ h.name }} {{ h.os.family.name }}{% for i in h.ifaces %} {{ i.name }}{% endfor %}")]);
    let unix = host.instance("std::OS", &["name", "family"], &[("name", Value::str("unix")), ("family", Value::Null)]);
    let linux = host.instance("std::OS", &["name", "family"], &[("name", Value::str("linux")), ("family", unix)]);
    let eth0 = host.instance("m::Iface", &["name"], &[("name", Value::str("eth0"))]);
    let eth1 = host.instance("m::Iface", &["name"], &[("name", Value::str("eth1"))]);
    let h = host.instance("std::Host", &["name", "os", "ifaces"], &[("name", Value::str("web1")), ("os", linux), ("ifaces", Value::list(vec![eth0, eth1]))]);
    assert_eq!(render(&mut host, "web/h.j2", &[("h", h)], None), Ok(Value::str("web1 unix eth0 eth1")));
}

#[test]
fn a_value_not_set_yet_makes_the_call_wait_and_an_unknown_one_makes_it_unknown() {
    let mut host = host_with(&[("web/templates/w.j2", "{{ s.later }}"), ("web/templates/u.j2", "{{ s.fact }}"), ("web/templates/x.j2", "{{ s.nope }}")]);
    let s = host.instance("m::S", &["later", "fact"], &[("fact", Value::Unknown)]);
    assert!(matches!(render(&mut host, "web/w.j2", &[("s", s.clone())], None), Err(PluginFailure::Wait(_))));
    assert_eq!(render(&mut host, "web/u.j2", &[("s", s.clone())], None), Ok(Value::Unknown));
    assert_eq!(render(&mut host, "web/u.j2", &[("s", Value::Unknown)], None), Ok(Value::Unknown));
    let missing = render(&mut host, "web/x.j2", &[("s", s)], None);
    assert!(matches!(missing, Err(PluginFailure::Explained { ref hint, .. }) if hint.contains("variable nope not set on")), "{missing:?}");
}

#[test]
fn plugins_are_filters_with_dots_for_colons() {
    let mut host = host_with(&[("web/templates/f.j2", "{{ name | std.upper }} {{ fqdn | std.hostname }} {{ csv | std.split(',') | join('|') }}")]);
    let out = render(&mut host, "web/f.j2", &[("name", Value::str("web")), ("fqdn", Value::str("a.b.c")), ("csv", Value::str("x,y"))], None);
    assert_eq!(out, Ok(Value::str("WEB a x|y")));
    host.files.insert("web/templates/bad.j2".into(), "{{ '' | std.split('') }}".into());
    let failed = render(&mut host, "web/bad.j2", &[("x", Value::Int(1))], None);
    assert!(matches!(failed, Err(PluginFailure::Error(ref m)) if m.contains("empty separator")), "{failed:?}");
}

#[test]
fn paths_name_a_module_the_calling_module_or_the_project() {
    let mut host = host_with(&[("web/templates/p.j2", "module"), ("/templates/p.j2", "project"), ("other/templates/p.j2", "other")]);
    assert_eq!(render(&mut host, "web/p.j2", &[("x", Value::Int(1))], None), Ok(Value::str("module")));
    assert_eq!(render(&mut host, "/p.j2", &[("x", Value::Int(1))], None), Ok(Value::str("project")));
    host.module = Some("other".into());
    assert_eq!(render(&mut host, "./p.j2", &[("x", Value::Int(1))], None), Ok(Value::str("other")));
    let climbing = render(&mut host, "/../secret", &[], None);
    assert!(matches!(climbing, Err(PluginFailure::Error(ref m)) if m.contains("climbs out of the project's `templates/` folder")), "{climbing:?}");
}

#[test]
fn std_ships_the_remote_agent_uri_template() {
    let mut host = FakeHost::default();
    let os = host.instance("std::OS", &["python_cmd"], &[("python_cmd", Value::str("python3"))]);
    let bare = host.instance("std::OS", &["python_cmd"], &[("python_cmd", Value::Null)]);
    let attrs = ["remote_user", "ip", "remote_port", "os"];
    let host_of = |host: &mut FakeHost, ip: &str, os: Value| {
        host.instance("std::Host", &attrs, &[("remote_user", Value::str("root")), ("ip", Value::str(ip)), ("remote_port", Value::Int(22)), ("os", os)])
    };
    let web = host_of(&mut host, "192.0.2.41", os);
    let v6 = host_of(&mut host, "2001:db8::10", bare);
    let config = host.instance("std::HostConfig", &["host"], &[("host", web)]);
    host.vars.insert("host".into(), v6);
    assert_eq!(render(&mut host, "std/host_uri.j2", &[], Some(config)), Ok(Value::str("ssh://root@2001:db8::10:22")));
    let web = host.instance("std::Host", &attrs, &[("remote_user", Value::str("ubuntu")), ("ip", Value::str("192.0.2.42")), ("remote_port", Value::Int(2222)), ("os", Value::Null)]);
    host.vars.insert("host".into(), web);
    let os = host.instance("std::OS", &["python_cmd"], &[("python_cmd", Value::str("python"))]);
    let with_python = host.instance("std::Host", &attrs, &[("remote_user", Value::str("root")), ("ip", Value::str("192.0.2.41")), ("remote_port", Value::Int(22)), ("os", os)]);
    assert_eq!(render(&mut host, "std/host_uri.j2", &[("host", with_python)], None), Ok(Value::str("ssh://root@192.0.2.41:22?python=python")));
}

#[test]
fn an_edited_template_is_rendered_anew_despite_the_cache() {
    let mut host = host_with(&[("web/templates/e.j2", "v1 {{ name }}")]);
    let name = [("name", Value::str("shop"))];
    assert_eq!(render(&mut host, "web/e.j2", &name, None), Ok(Value::str("v1 shop")));
    host.files.insert("web/templates/e.j2".into(), "v2 {{ name }}!".into());
    assert_eq!(render(&mut host, "web/e.j2", &name, None), Ok(Value::str("v2 shop!")));
    host.files.insert("web/templates/e.j2".into(), "v1 {{ name }}".into());
    assert_eq!(render(&mut host, "web/e.j2", &name, None), Ok(Value::str("v1 shop")));
}

#[test]
fn syntax_errors_name_the_template_and_line() {
    let mut host = host_with(&[("web/templates/s.j2", "ok\n{% if %}")]);
    let failed = render(&mut host, "web/s.j2", &[("x", Value::Int(1))], None);
    assert!(matches!(failed, Err(PluginFailure::Error(ref m)) if m.starts_with("template `web/s.j2`, line 2: syntax error")), "{failed:?}");
}

#[test]
fn jinja2_text_rules() {
    assert_eq!(jinja_source("a\r\nb\r\n"), "a\nb");
    assert_eq!(jinja_source("a\rb\n\n"), "a\nb\n");
    assert_eq!(jinja_source("a"), "a");
    assert_eq!(dotted_names("{{ x | std.upper }}{{ y|mymod . sub.f(1) }} a.b"), ["a.b", "mymod.sub.f", "std.upper"]);
}

#[test]
fn python_rounding_and_printf() {
    assert_eq!(python_round(2.5, 0), 2.0);
    assert_eq!(python_round(3.5, 0), 4.0);
    assert_eq!(python_round(2.675, 2), 2.67);
    assert_eq!(python_round(1234.0, -2), 1200.0);
    let args = [Jv::from("db1"), Jv::from(5432), Jv::from(1.23456)];
    assert_eq!(printf("%s:%d %05.2f %-4s| %x %%", &[args[0].clone(), args[1].clone(), args[2].clone(), Jv::from("a"), Jv::from(255)], None).ok(), Some("db1:5432 01.23 a   | ff %".to_string()));
    assert!(printf("%s %s", &[Jv::from(1)], None).is_err());
    assert!(printf("%s", &[Jv::from(1), Jv::from(2)], None).is_err());
}

#[test]
fn templates_include_import_and_extend_others_by_their_paths() {
    let mut host = host_with(&[
        ("web/templates/page.j2", "{% extends 'web/base.j2' %}{% block body %}{% include '/part.j2' %} {{ m.shout(name) }}{% endblock %}"),
        ("web/templates/base.j2", "<{% block body %}{% endblock %}>\n"),
        ("/templates/part.j2", "part {{ name }}\n"),
        ("web/templates/macros.j2", "{% macro shout(x) %}{{ x | upper }}!{% endmacro %}"),
    ]);
    host.files.insert("web/templates/page.j2".into(), "{% import 'web/macros.j2' as m %}".to_string() + &host.files["web/templates/page.j2"].clone());
    let name = [("name", Value::str("ann"))];
    assert_eq!(render(&mut host, "web/page.j2", &name, None), Ok(Value::str("<part ann ANN!>")));
    // An edited include is read anew although the including template is cached.
    host.files.insert("/templates/part.j2".into(), "piece {{ name }}".into());
    assert_eq!(render(&mut host, "web/page.j2", &name, None), Ok(Value::str("<piece ann ANN!>")));
    host.files.insert("web/templates/broken.j2".into(), "{% include 'web/none.j2' %}".into());
    let missing = render(&mut host, "web/broken.j2", &name, None);
    assert!(matches!(missing, Err(PluginFailure::Error(ref m)) if m.contains("web/none.j2")), "{missing:?}");
}
