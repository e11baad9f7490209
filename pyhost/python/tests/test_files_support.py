"""What the files module (2.1.1) needs of the host: dict paths, the project's modules, entity
types of instances, std's own Python, empty multi-valued relations at export.

The last class runs the published files, mitogen and std from a virtualenv that has them
(``$CAIRN_PYHOST_MODULES_PYTHON``, else the repository's ``.venv-modules``; skipped without).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hostlib import Host, Model, hello, ref, v1, write  # noqa: E402

class ExportModel(Model):
    """As Cairn's export answers: ``attributes`` lists the plain attributes, not the relations."""

    def answer(self, q):
        if q["op"] == "attributes" and q["instance"] in self.instances:
            self.questions.append(q)
            inst = self.instances[q["instance"]]
            return {"value": sorted(a for a in inst["attrs"] if a not in inst.get("relations", ()))}
        return super().answer(q)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

HELPERS = textwrap.dedent('''
    import inmanta.agent.agent
    import inmanta.resources
    from inmanta.module import Project
    from inmanta.plugins import plugin
    from inmanta.util import dict_path


    @plugin
    def escaped(key: "string") -> "string":
        return str(dict_path.InDict(key))

    @plugin
    def paths() -> "list":
        config = {}
        dict_path.to_path("a.b[name=x].c").set_element(config, 5)
        dict_path.to_path("a.d").set_element(config, {"e": 1})
        got = dict_path.to_path("a.b[name=x]").get_element(config)
        dict_path.to_path("a.d").remove(config)
        wild = dict_path.to_wild_path("a.*").get_elements({"a": {"x": 1, "y": 2}})
        null = dict_path.to_path(".")
        return [config, got, sorted(wild), str(null), type(null).__name__,
                dict_path.to_path("db\\\\.example\\\\.com").get_key(), str(dict_path.to_path("x[k=v].y"))]

    @plugin
    def project() -> "list":
        p = Project.get()
        return [p.project_path, sorted(p.modules), p.modules["helpers"]._path]

    @inmanta.resources.resource("helpers::Thing", agent="name", id_attribute="name")
    class Thing(inmanta.resources.Resource):
        fields = ("name", "kinds", "attrs", "items", "parent")

        @staticmethod
        def get_kinds(_, entity):
            t = entity._type()
            mro = [t.get_full_name(), *t.get_all_parent_names()]
            return [t.get_full_name(), "helpers::Base" in mro, "other::X" in mro,
                    "helpers::Base" in t.get_all_parent_names(), t.get_full_name() in t.get_all_parent_names()]

        @staticmethod
        def get_attrs(_, entity):
            t = entity._type()
            import inmanta.ast.attribute
            return {a: isinstance(t.get_attribute(a), inmanta.ast.attribute.RelationAttribute)
                    for a in sorted(["name", "parent", "items"])}

        @staticmethod
        def get_items(_, entity):
            return [i.name for i in entity.items]

        @staticmethod
        def get_parent(_, entity):
            return entity.parent
    ''')

MODEL = textwrap.dedent('''
    entity Base:
        string name
    end
    entity Thing extends Base:
    end
    entity Item:
        string name
    end
    Thing.items [0:] -- Item.thing [1]
    Thing.parent [0:1] -- Thing
    ''')


class FilesSupportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project = tempfile.mkdtemp(prefix="cairn-pyhost-files-")
        write(os.path.join(cls.project, "libs/helpers/plugins/__init__.py"), HELPERS)
        write(os.path.join(cls.project, "libs/helpers/model/_init.cf"), MODEL)
        cls.host = Host(cls.project)
        cls.ready, _ = cls.host.request(hello(cls.project, [v1(cls.project, "helpers")]))

    @classmethod
    def tearDownClass(cls):
        cls.host.close()
        shutil.rmtree(cls.project, ignore_errors=True)

    def ret(self, plugin, *args):
        answer, _ = self.host.call(plugin, args)
        self.assertEqual(answer["op"], "return", answer)
        return answer["value"]

    def test_imports(self):
        self.assertEqual(self.ready["errors"], {})

    def test_dict_path(self):
        self.assertEqual(self.ret("helpers::escaped", "db.example.com"), "db\\.example\\.com")
        self.assertEqual(self.ret("helpers::escaped", "a[b]=*"), "a\\[b\\]\\=\\*")
        self.assertEqual(self.ret("helpers::escaped", "localhost"), "localhost")
        self.assertEqual(self.ret("helpers::paths"), [
            {"a": {"b": [{"name": "x", "c": 5}]}}, {"name": "x", "c": 5}, [1, 2], ".", "NullPath",
            "db.example.com", "x[k=v].y"])

    def test_project(self):
        self.assertEqual(self.ret("helpers::project"),
                         [self.project, ["helpers"], os.path.join(self.project, "libs", "helpers")])

    def map(self, field, model):
        answer, _ = self.host.request(
            {"op": "map", "resource": "helpers::Thing", "field": field, "instance": ref(1, "helpers::Thing")}, model)
        self.assertEqual(answer["op"], "return", answer)
        return answer["value"]

    def model(self, items=None, parent=None):
        # at export Cairn lists plain attributes only, and answers an empty [0:] relation with null
        return ExportModel({
            1: {"type": "helpers::Thing", "isa": ["helpers::Base"], "attrs": {"name": "t", "items": items, "parent": parent},
                "relations": ["items", "parent"]},
            2: {"type": "helpers::Item", "attrs": {"name": "i2"}},
            3: {"type": "helpers::Thing", "isa": ["helpers::Base"], "attrs": {"name": "p"}},
        })

    def test_entity_type(self):
        self.assertEqual(self.map("kinds", self.model()), ["helpers::Thing", True, False, True, False])
        self.assertEqual(self.map("attrs", self.model([ref(2, "helpers::Item")], ref(3, "helpers::Thing"))),
                         {"items": True, "name": False, "parent": True})

    def test_empty_many_relation_at_export(self):
        self.assertEqual(self.map("items", self.model()), [])
        self.assertEqual(self.map("items", self.model([ref(2, "helpers::Item")])), ["i2"])
        self.assertIsNone(self.map("parent", self.model()))


FAKE_STD = textwrap.dedent('''
    from inmanta.module import Project
    from inmanta.plugins import plugin
    from inmanta.execute.util import Unknown

    def is_unknown(value):
        return isinstance(value, Unknown)

    WHICH = "installed std"

    @plugin
    def only_in_std() -> "string":
        return WHICH
    ''')

USER = textwrap.dedent('''
    import inmanta_plugins.std
    from inmanta.plugins import Context, plugin

    @plugin
    def which() -> "list":
        std = inmanta_plugins.std
        return [getattr(std, "WHICH", "cairn_std"), hasattr(std, "get_file_content")]

    @plugin
    def fact(ctx: Context, resource: "any", default: "any" = None) -> "any":
        value = inmanta_plugins.std.getfact(ctx, resource, "ip", default)
        return ["unknown" if inmanta_plugins.std.is_unknown(value) else value]
    ''')

FACTS = Model({
    1: {"type": "m::Res", "isa": ["std::Resource"], "attrs": {}},
    2: {"type": "m::Plain", "attrs": {}},
})


class StdFromVirtualenvTest(unittest.TestCase):
    """``inmanta_plugins.std`` is the virtualenv's std when it imports, else Cairn's stand-in."""

    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="cairn-pyhost-std-")
        cls.venv = os.path.join(cls.root, "venv")
        r = subprocess.run([sys.executable, "-m", "venv", "--without-pip", cls.venv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            raise unittest.SkipTest("python3 -m venv is not available")
        cls.python = os.path.join(cls.venv, "bin", "python")
        site = subprocess.run([cls.python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True).stdout.strip()
        cls.std = os.path.join(site, "inmanta_plugins", "std", "__init__.py")
        cls.project = os.path.join(cls.root, "project")
        write(os.path.join(cls.project, "libs/user/plugins/__init__.py"), USER)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def run_host(self, std_text):
        write(self.std, std_text)
        host = Host(self.project, python=self.python)
        try:
            ready, _ = host.request(hello(self.project, [v1(self.project, "user")]))
            answer, _ = host.call("user::which")
            facts = [host.call("user::fact", [ref(1, "m::Res")], model=FACTS)[0],
                     host.call("user::fact", [ref(1, "m::Res"), "10.0.0.1"], model=FACTS)[0],
                     host.call("user::fact", [ref(2, "m::Plain")], model=FACTS)[0]]
            # as Cairn's native std::getfact: unknown, the default, an error for a non-resource
            self.assertEqual(facts[0], {"op": "return", "value": ["unknown"]})
            self.assertEqual(facts[1], {"op": "return", "value": ["10.0.0.1"]})
            self.assertEqual(facts[2]["op"], "raise")
            self.assertIn("Facts can only be retrieved from resources.", facts[2]["message"])
            return ready, answer, "".join(host.stderr)
        finally:
            host.close()

    def test_installed_std(self):
        ready, answer, _ = self.run_host(FAKE_STD)
        self.assertEqual(ready["errors"], {})
        self.assertEqual(answer, {"op": "return", "value": ["installed std", False]})
        # std's registrations are not Cairn's to call (its std is native)
        self.assertNotIn("std::only_in_std", ready["plugins"])
        self.assertIn("user::which", ready["plugins"])

    def test_broken_std_falls_back(self):
        ready, answer, _ = self.run_host(FAKE_STD + "\nraise RuntimeError('std is broken')\n")
        self.assertEqual(ready["errors"], {})
        self.assertEqual(answer, {"op": "return", "value": ["cairn_std", True]})
        self.assertNotIn("std::only_in_std", ready["plugins"])


def modules_python():
    """A Python whose site-packages hold the published files module, and that folder."""
    for candidate in (os.environ.get("CAIRN_PYHOST_MODULES_PYTHON"), os.path.join(REPO, ".venv-modules", "bin", "python")):
        if not candidate or not os.path.exists(candidate):
            continue
        site = subprocess.run([candidate, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True).stdout.strip()
        if site and os.path.isdir(os.path.join(site, "inmanta_plugins", "files")):
            return candidate, site
    return None, None


class PublishedFilesTest(unittest.TestCase):
    """files 2.1.1 with mitogen 0.2.5 and std 8.4.2 as installed (get_via, get_values, get_uri)."""

    @classmethod
    def setUpClass(cls):
        cls.python, site = modules_python()
        if cls.python is None:
            raise unittest.SkipTest("no virtualenv with the files module (CAIRN_PYHOST_MODULES_PYTHON, .venv-modules)")
        cls.project = tempfile.mkdtemp(prefix="cairn-pyhost-pubfiles-")
        cls.host = Host(cls.project, python=cls.python)
        files = {"name": "files", "kind": "v2", "path": os.path.join(site, "inmanta_plugins", "files")}
        cls.ready, _ = cls.host.request(hello(cls.project, [files]))

    @classmethod
    def tearDownClass(cls):
        cls.host.close()
        shutil.rmtree(cls.project, ignore_errors=True)

    def map(self, resource, field, model, instance=1):
        answer, _ = self.host.request(
            {"op": "map", "resource": resource, "field": field, "instance": ref(instance, model.instances[instance]["type"])},
            model)
        return answer

    def test_loads(self):
        self.assertEqual(self.ready["errors"], {})
        for name in ("files::TextFile", "files::Directory", "files::Symlink", "files::JsonFile", "files::HostFile",
                     "files::SharedHostFile", "files::SharedJsonFile", "files::SystemdUnitFile"):
            self.assertIn(name, self.ready["resources"])
        self.assertIn({"name": "via", "mapped": True}, self.ready["resources"]["files::TextFile"]["fields"])
        self.assertIn("files::path_join", self.ready["plugins"])
        self.assertFalse([p for p in self.ready["plugins"] if p.startswith(("std::", "mitogen::"))])

    def host_model(self, **host_attrs):
        attrs = {"name": "h", "via": None, "ip": None, "remote_user": "root", "remote_port": 22, "os": ref(3, "std::OS")}
        attrs.update(host_attrs)
        return ExportModel({
            1: {"type": "files::TextFile", "attrs": {"host": ref(2, "std::Host"), "path": "/x"}, "relations": ["host"]},
            2: {"type": "std::Host", "attrs": attrs, "relations": ["via", "os"]},
            3: {"type": "std::OS", "attrs": {"name": "linux", "python_cmd": "python"}},
            4: {"type": "mitogen::Local", "isa": ["mitogen::Context"], "relations": ["via"],
                "attrs": {"method_name": "local", "name": "", "remote_name": None, "python_path": None, "via": None}},
        })

    def test_via(self):
        self.assertEqual(self.map("files::TextFile", "via", self.host_model(via=ref(4, "mitogen::Local"))),
                         {"op": "return", "value": {"method_name": "local", "name": ""}})
        answer = self.map("files::TextFile", "via", self.host_model(ip="10.0.0.5"))
        self.assertEqual(answer["value"]["method_name"], "ssh")
        self.assertEqual(answer["value"]["python_path"], ["python"])
        answer = self.map("files::TextFile", "via", self.host_model())
        self.assertEqual((answer["op"], answer["kind"]), ("raise", "NotImplementedError"))
        self.assertIn("[No ip]", answer["message"])

    def test_values(self):
        model = ExportModel({
            1: {"type": "files::HostFile", "attrs": {"entries": [ref(2, "files::host::Entry")]}, "relations": ["entries"]},
            2: {"type": "files::host::Entry",
                "attrs": {"hostname": "db.example.com", "operation": "replace", "address4": "10.0.0.6", "address6": None}},
        })
        self.assertEqual(self.map("files::HostFile", "values", model), {"op": "return", "value": [
            {"path": "db\\.example\\.com", "operation": "replace", "value": {"address4": "10.0.0.6", "address6": None}}]})
        model = ExportModel({1: {"type": "files::JsonFile", "isa": ["files::JsonFileABC"], "attrs": {"discovered_values": None},
                                 "relations": ["discovered_values"]}})
        self.assertEqual(self.map("files::JsonFile", "discovered_values", model), {"op": "return", "value": []})

    def test_get_json_fact(self):
        model = Model({1: {"type": "files::TextFile", "isa": ["std::Resource", "std::PurgeableResource"], "attrs": {}}})
        answer, _ = self.host.call("files::json::get_json_fact", [ref(1, "files::TextFile"), "config"], model=model)
        self.assertEqual(answer, {"op": "return", "value": {"$unknown": True}})
        answer, _ = self.host.call("files::json::get_json_fact", [ref(1, "files::TextFile"), "config"],
                                   [("default_value", {"a": 1})], model=model)
        self.assertEqual(answer, {"op": "return", "value": {"a": 1}})


if __name__ == "__main__":
    unittest.main()
