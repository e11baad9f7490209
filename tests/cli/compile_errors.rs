//! Snapshots of rendered compile errors from the real binary: `cairn compile` on a temporary
//! project whose `main.cf` is the case's source. Each snapshot stores the source and the output
//! together, so a reviewer sees both.

use super::{cairn, temp_dir};

fn compile_case(name: &str, source: &str) -> String {
    format!("--- main.cf\n{source}\n{}", compile_output(name, source))
}

/// The exit code and the error output of `cairn compile` on `source`.
fn compile_output(name: &str, source: &str) -> String {
    let dir = temp_dir(&format!("compile-{name}"));
    std::fs::write(dir.join("project.yml"), "name: case\n").expect("write project.yml");
    std::fs::write(dir.join("main.cf"), source).expect("write main.cf");
    let output = cairn(&["compile", "."], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    format!("--- exit {}\n{stderr}", output.status.code().unwrap_or(-1))
}

macro_rules! compile_case {
    ($name:ident, $source:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), compile_case(stringify!($name), $source));
        }
    };
}

compile_case!(
    set_twice_shows_both_places,
    "entity Service:\n    int port\nend\nimplement Service using std::none\n\ns = Service(port=80)\ns.port = 8080\n"
);
compile_case!(
    set_twice_by_a_default,
    "entity Service:\n    string name\n    int port = 80\nend\nindex Service(name)\nimplement Service using std::none\n\na = Service(name=\"web\", port=8080)\nb = Service(name=\"web\")\n"
);
compile_case!(
    not_set_names_the_statement_that_never_ran,
    "entity Config:\n    string name\n    int port\nend\nindex Config(name)\nimplement Config using std::none\n\nentity Service:\n    int port\nend\nimplement Service using std::none\n\ns = Service()\nc = Config[name=\"missing\"]\ns.port = c.port\n"
);
compile_case!(
    modified_after_freeze_shows_the_read,
    "entity Box:\nend\nentity Item:\nend\nBox.items [0:] -- Item\nimplement Box using std::none\nimplement Item using std::none\n\nb = Box()\nn = std::count(b.items)\nif n == 0:\n    b.items += Item()\nend\n"
);
compile_case!(no_implementation, "entity Thing:\n    string name\nend\n\nt = Thing(name=\"x\")\n");
compile_case!(
    no_implementation_when_waiting,
    "entity Disk:\n    int size\nend\nimplement Disk using std::none when size > 100\n\nd = Disk()\n"
);
compile_case!(
    no_match_in_index,
    "entity Host:\n    string name\nend\nindex Host(name)\nimplement Host using std::none\n\nHost(name=\"a\")\nh = Host[name=\"b\"]\n"
);
compile_case!(
    type_error_points_at_the_argument,
    "entity Service:\n    string name\n    int port\nend\nimplement Service using std::none\n\ns = Service(\n    name=\"web\",\n    port=\"eighty\",\n)\n"
);
compile_case!(
    typedef_constraint_violated,
    "typedef small_port as int matching self > 0 and self < 1024\n\nentity Service:\n    small_port port\nend\nimplement Service using std::none\n\nService(port=8080)\n"
);
compile_case!(
    attribute_not_found,
    "entity Service:\n    int port = 80\nend\nimplement Service using std::none\n\nService(prot=81)\n"
);
compile_case!(namespace_not_imported, "x = std::testing::NullResource(name=\"a\")\n");
compile_case!(
    optional_read_after_null,
    "entity Node:\n    string name\nend\nNode.parent [0:1] -- Node\nimplement Node using std::none\n\nn = Node(name=\"n\", parent=null)\np = n.parent.name\n"
);
compile_case!(
    upper_bound_exceeded,
    "entity Pair:\nend\nentity Item:\nend\nPair.items [0:2] -- Item\nimplement Pair using std::none\nimplement Item using std::none\n\np = Pair(items=[Item(), Item()])\np.items += Item()\n"
);
compile_case!(
    too_few_values,
    "entity Cluster:\nend\nentity Node:\nend\nCluster.members [2:] -- Node.cluster [1]\nimplement Cluster using std::none\nimplement Node using std::none\n\nc = Cluster()\nNode(cluster=c)\n"
);
compile_case!(
    index_attribute_missing,
    "entity Host:\n    string name\n    string ip\nend\nindex Host(name)\nimplement Host using std::none\n\nh = Host(ip=\"10.0.0.1\")\n"
);
compile_case!(
    incompatible_attribute_redefinition,
    "entity Service:\n    int port\nend\nentity Web extends Service:\n    string port\nend\nimplement Web using std::none\n"
);
compile_case!(
    condition_must_be_boolean,
    "entity Disk:\n    int size\n    string label = \"\"\nend\nimplement Disk using std::none\n\nd = Disk(size=3)\nif d.size:\n    d.label = \"sized\"\nend\n"
);
compile_case!(statements_waiting_on_each_other, "a = b\nb = a\n");
compile_case!(
    runaway_construction,
    "entity A:\nend\nimplement A using grow\nimplementation grow for A: A() end\nA()\n"
);
compile_case!(
    runaway_construction_through_two_entities,
    "entity Hen:\nend\nentity Egg:\nend\nimplement Hen using lay\nimplement Egg using hatch\nimplementation lay for Hen:\n    Egg()\nend\nimplementation hatch for Egg:\n    Hen()\nend\nHen()\n"
);

/// Labels on lines of 27 kB: the excerpt shows each line around the label's start and end
/// only (and the message the start of the value), with the caret under the labelled text.
/// The snapshot holds the sources' shape rather than their 27 kB.
#[test]
fn long_line_is_cut_around_the_label() {
    let numbers: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    let (head, tail) = numbers.split_at(2500);
    let middle = format!("ports = [{}, missing, {}]\n", head.join(", "), tail.join(", "));
    let argument = format!(
        "entity Service:\n    string name\n    int port\nend\nimplement Service using std::none\n\ns = Service(name=\"web\", port=[{}])\n",
        numbers.join(", ")
    );
    let shapes = [
        ("--- main.cf: `ports = [0, 1, ..., 2499, missing, 2500, ..., 4999]` (line 1, 27 kB)", middle),
        ("--- main.cf: a Service whose port is the list [0, ..., 4999] (line 7, 27 kB)", argument),
    ];
    let outputs: Vec<String> = shapes
        .iter()
        .enumerate()
        .map(|(i, (shape, source))| format!("{shape}\n{}", compile_output(&format!("long_line_{i}"), source)))
        .collect();
    insta::assert_snapshot!("long_line_is_cut_around_the_label", outputs.join("\n"));
}

// "Did you mean": a misspelt entity, attribute, variable, plugin or type gets the nearest
// known name; a module that cannot be found says where Cairn looked.
compile_case!(misspelt_entity_is_suggested, "h = std::Hots(name=\"web\", os=std::linux)\n");
compile_case!(misspelt_unqualified_entity_finds_std, "import fs\nh = Hots(name=\"web\")\n");
compile_case!(
    misspelt_variable_is_suggested,
    "entity Service:\n    int port = 80\nend\nimplement Service using std::none\n\nservice = Service()\nstd::print(servcie.port)\n"
);
compile_case!(
    misspelt_attribute_in_an_implementation_is_suggested,
    "entity Service:\n    string name\nend\nimplementation show for Service:\n    std::print(nmae)\nend\nimplement Service using show\n\nService(name=\"web\")\n"
);
compile_case!(misspelt_plugin_is_suggested, "std::print(std::uper(\"web\"))\n");
compile_case!(misspelt_type_is_suggested, "entity Service:\n    strng name\nend\nimplement Service using std::none\n");
compile_case!(missing_module_says_where_it_looked, "import fz\nimport webb\n");
