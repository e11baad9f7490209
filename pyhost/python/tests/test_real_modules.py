"""Integration: hello and calls with the Python of Inmanta's published modules, from PyPI.

The wheels are downloaded with ``pip download --no-deps`` into ``$CAIRN_PYHOST_WHEELS``
(default ``/tmp/cairn-pyhost-wheels``). The host runs with the first Python of
``$CAIRN_PYHOST_TEST_PYTHON``, ``/tmp/cairn-pyhost-venv/bin/python``,
``/tmp/cairn-inmanta-venv/bin/python`` and this Python that imports the modules'
dependencies (netaddr, PyYAML); a throw-away one is made with
``python3 -m venv /tmp/cairn-pyhost-venv && /tmp/cairn-pyhost-venv/bin/pip install netaddr PyYAML``.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hostlib import UNKNOWN, Host, Model, hello, ref  # noqa: E402

WHEELS = os.environ.get("CAIRN_PYHOST_WHEELS", "/tmp/cairn-pyhost-wheels")
MODULES = {
    "ip": "2.0.3",
    "net": "1.1.3",
    "yaml": "1.0.0",
    "ssh": "1.0.5",
    "rest": "1.0.1",
    "files": "2.11.1",
    "kubernetes": "0.0.5",
    "user": "0.1.23",
}
# the third-party packages a module's Python imports
DEPENDENCIES = {"ip": ["netaddr"], "yaml": ["yaml"], "rest": ["requests", "jq"], "kubernetes": ["kubernetes"]}


def wheel(name):
    found = sorted(glob.glob(os.path.join(WHEELS, f"inmanta_module_{name}-{MODULES[name]}-*.whl")))
    if found:
        return found[0]
    os.makedirs(WHEELS, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", WHEELS, f"inmanta-module-{name}=={MODULES[name]}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )
    found = sorted(glob.glob(os.path.join(WHEELS, f"inmanta_module_{name}-{MODULES[name]}-*.whl")))
    return found[0] if found else None


def imports(python, names):
    if not names:
        return True
    r = subprocess.run([python, "-I", "-c", "import " + ", ".join(names)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def pick_python():
    candidates = [os.environ.get("CAIRN_PYHOST_TEST_PYTHON"), "/tmp/cairn-pyhost-venv/bin/python",
                  "/tmp/cairn-inmanta-venv/bin/python", sys.executable]
    for c in candidates:
        if c and os.path.exists(c) and imports(c, ["netaddr", "yaml"]):
            return c
    return None


class RealModulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.python = pick_python()
        if cls.python is None:
            raise unittest.SkipTest(
                "no Python with netaddr and PyYAML: python3 -m venv /tmp/cairn-pyhost-venv && "
                "/tmp/cairn-pyhost-venv/bin/pip install netaddr PyYAML"
            )
        cls.wheels = {n: wheel(n) for n in MODULES}
        if cls.wheels["ip"] is None or cls.wheels["yaml"] is None:
            raise unittest.SkipTest(f"could not download inmanta-module-ip/yaml wheels into {WHEELS}")
        cls.project = tempfile.mkdtemp(prefix="cairn-pyhost-real-")
        site = os.path.join(cls.project, ".env-site")
        cls.modules = []
        for name, whl in cls.wheels.items():
            if whl is None:
                continue
            with zipfile.ZipFile(whl) as z:
                z.extractall(site)
            pkg = os.path.join(site, "inmanta_plugins", name)
            if name == "yaml":
                # yaml as a v1 module: libs/yaml/plugins, with a file in libs/yaml/files
                lib = os.path.join(cls.project, "libs", "yaml")
                shutil.copytree(pkg, os.path.join(lib, "plugins"))
                os.makedirs(os.path.join(lib, "files"))
                with open(os.path.join(lib, "files", "conf.yml"), "w") as f:
                    f.write("servers:\n  - name: a\n    port: 80\n")
                cls.modules.append({"name": name, "kind": "v1", "path": os.path.join(lib, "plugins")})
            else:
                cls.modules.append({"name": name, "kind": "v2", "path": pkg})
        cls.host = Host(cls.project, python=cls.python)
        cls.ready, _ = cls.host.request(hello(cls.project, cls.modules, {"environment": "e"}))

    @classmethod
    def tearDownClass(cls):
        cls.host.close()
        shutil.rmtree(cls.project, ignore_errors=True)

    def ret(self, plugin, *args):
        answer, _ = self.host.call(plugin, args)
        self.assertEqual(answer["op"], "return", answer)
        return answer["value"]

    def test_modules_load(self):
        errors = self.ready["errors"]
        for name in MODULES:
            if self.wheels.get(name) is None:
                continue
            with self.subTest(module=name):
                if name == "files":
                    # files 2.11.1 needs Python 3.12 syntax, the mitogen and config modules and std's Jinja
                    if sys.version_info < (3, 12):
                        self.assertIn("files", errors)
                    continue
                if imports(self.python, DEPENDENCIES.get(name, [])):
                    self.assertNotIn(name, errors, errors.get(name))
                else:
                    self.assertIn("No module named", errors[name]["message"])
        self.assertIn("ip::is_valid_ip", self.ready["plugins"])
        self.assertEqual(self.ready["plugins"]["ip::network"]["params"][0]["type"], "ip::ip")
        self.assertIn("yaml::loads", self.ready["plugins"])
        self.assertEqual(self.ready["plugins"]["yaml::load"]["params"], [
            {"name": "path", "type": "string", "default": None, "has_default": False, "kind": "positional_or_keyword"}])
        if "rest" not in errors and "rest" in [m["name"] for m in self.modules]:
            rest = self.ready["resources"]["rest::RESTCall"]
            self.assertEqual((rest["agent"], rest["id_attribute"], rest["kind"]), ("agent", "url_id", "resource"))
            self.assertIn({"name": "url", "mapped": False}, rest["fields"])

    def test_ip(self):
        self.assertEqual(self.ret("ip::hostname", "www.example.com"), "www")
        self.assertIs(self.ret("ip::is_valid_ip", "10.0.0.1"), True)
        self.assertIs(self.ret("ip::is_valid_ip", "nonsense"), False)
        self.assertEqual(self.ret("ip::network", "10.1.2.3", "24"), "10.1.2.0")
        self.assertEqual(self.ret("ip::netmask", 24), "255.255.255.0")
        self.assertEqual(self.ret("ip::ipindex", "10.0.0.0/24", 5), "10.0.0.5")
        self.assertEqual(self.ret("ip::add", "10.0.0.1", 2), "10.0.0.3")
        self.assertEqual(self.ret("ip::ipnet", "192.168.1.100/24", "netmask"), "255.255.255.0")
        self.assertEqual(self.ret("ip::hostname", UNKNOWN), UNKNOWN)
        answer, _ = self.host.call("ip::hostname", [3])
        self.assertEqual((answer["op"], answer["kind"]), ("raise", "ValueTypeError"))

    def test_yaml(self):
        self.assertEqual(self.ret("yaml::loads", "a: [1, 2]\nb: {c: x}\n"), {"a": [1, 2], "b": {"c": "x"}})
        self.assertEqual(self.ret("yaml::load", "yaml/conf.yml"), {"servers": [{"name": "a", "port": 80}]})
        # "./" is the module of the calling statement (an optional "namespace" of the call), else the plugin's
        self.assertEqual(self.ret("yaml::load", "./conf.yml"), {"servers": [{"name": "a", "port": 80}]})
        answer, _ = self.host.request({"op": "call", "plugin": "yaml::load", "args": ["./conf.yml"], "kwargs": [],
                                       "namespace": "ip::sub"})
        self.assertEqual(answer["op"], "raise")
        self.assertIn("conf.yml", answer["message"])
        answer, _ = self.host.call("yaml::load", ["yaml/missing.yml"])
        self.assertEqual(answer["op"], "raise")
        self.assertIn("missing.yml", answer["message"])

    def test_ssh(self):
        if "ssh::get_public_key" not in self.ready["plugins"] or shutil.which("ssh-keygen") is None:
            self.skipTest("ssh-keygen not installed")
        public = self.ret("ssh::get_public_key", "k1")
        self.assertTrue(public.startswith("ssh-rsa "), public)
        self.assertTrue(os.path.isfile(os.path.join(self.project, "data", "ssh", "k1")))
        self.assertEqual(self.ret("ssh::get_public_key", "k1"), public)


if __name__ == "__main__":
    unittest.main()


class RealInmantaInstalledTest(unittest.TestCase):
    """With the real inmanta-core in the virtualenv, the shim still wins and kubernetes loads."""

    PYTHON = os.environ.get("CAIRN_PYHOST_INMANTA_PYTHON", "/tmp/cairn-inmanta-venv/bin/python")

    def test_shim_wins(self):
        if not (os.path.exists(self.PYTHON) and imports(self.PYTHON, ["inmanta.plugins"])):
            self.skipTest(f"no Python with the real inmanta-core at {self.PYTHON}")
        project = tempfile.mkdtemp(prefix="cairn-pyhost-realinmanta-")
        try:
            lib = os.path.join(project, "libs", "probe", "plugins")
            os.makedirs(lib)
            with open(os.path.join(lib, "__init__.py"), "w") as f:
                f.write(
                    "import inmanta, inmanta.plugins\n"
                    "from inmanta.plugins import plugin\n"
                    "@plugin\n"
                    "def where() -> 'string':\n"
                    "    return inmanta.plugins.__file__\n"
                )
            modules = [{"name": "probe", "kind": "v1", "path": lib}]
            for name in ("kubernetes", "rest"):
                whl = wheel(name)
                if whl is not None:
                    site = os.path.join(project, "site")
                    with zipfile.ZipFile(whl) as z:
                        z.extractall(site)
                    modules.append({"name": name, "kind": "v2", "path": os.path.join(site, "inmanta_plugins", name)})
            host = Host(project, python=self.PYTHON)
            ready, _ = host.request(hello(project, modules))
            answer, _ = host.call("probe::where")
            mapped = None
            if "kubernetes" not in ready["errors"] and len(modules) > 1:
                model = Model({
                    1: {"type": "kubernetes::resources::Secret",
                        "attrs": {"name": "s", "cluster": ref(2, "kubernetes::Cluster"), "namespace": ref(3, "kubernetes::Namespace")}},
                    2: {"type": "kubernetes::Cluster", "attrs": {"name": "c1"}},
                    3: {"type": "kubernetes::Namespace", "attrs": {"name": "ns"}},
                })
                mapped, _ = host.request({"op": "map", "resource": "kubernetes::resources::Secret", "field": "identifier",
                                          "instance": ref(1, "kubernetes::resources::Secret")}, model)
            host.close()
            if mapped is not None:
                self.assertEqual(mapped, {"op": "return", "value": "/cluster/c1/namespace/ns/secret/s"})
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            self.assertEqual(answer, {"op": "return", "value": os.path.join(here, "inmanta", "plugins.py")})
            for m in modules[1:]:
                if imports(self.PYTHON, DEPENDENCIES.get(m["name"], [])):
                    self.assertNotIn(m["name"], ready["errors"], ready["errors"].get(m["name"]))
            if "kubernetes" not in ready["errors"] and len(modules) > 1:
                self.assertIn("kubernetes::assert_common_cluster", ready["plugins"])
                secret = ready["resources"]["kubernetes::resources::Secret"]
                self.assertEqual(secret["kind"], "purgeable")
                self.assertEqual(
                    [f["name"] for f in secret["fields"]],
                    ["send_event", "receive_events", "purged", "purge_on_delete", "name", "labels", "cluster_config",
                     "namespace", "type", "data"],
                )
        finally:
            shutil.rmtree(project, ignore_errors=True)
