//! Snapshots of rendered diagnostics from the real binary. Each snapshot stores the source
//! and the output together.

use super::snapshot_case;

macro_rules! render_case {
    ($name:ident, $source:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), snapshot_case(stringify!($name), $source));
        }
    };
}

render_case!(unclosed_entity_points_at_its_opening, "entity Host:\n    string name\n\nimplementation web for Host:\nend\n");
render_case!(unclosed_for_inside_implementation, "implementation web for Host:\n    for x in y:\n        z = x\nend\n");
render_case!(hyphen_in_identifier, "entity Host:\n    string host-name\nend\n");
render_case!(lowercase_entity_name, "entity host:\nend\n");
render_case!(capitalised_attribute, "entity Host:\n    string Name\nend\n");
render_case!(entity_as_attribute_type, "entity Host:\n    Interface eth0\nend\n");
render_case!(bad_f_string_field, "x = f\"{a + b}\"\n");
render_case!(illegal_character, "x = 1 & 2\n");
render_case!(unterminated_string, "x = \"abc\ny = 1\n");
render_case!(method_call, "x = a.upper()\n");
render_case!(obsolete_relation_arrow, "A.b [1] -> B.a [0:]\n");
render_case!(several_errors_in_one_file, "entity a:\nend\nx = = 1\ny = [1, 2\nz = 3\n");
render_case!(unexpected_eof_in_expression, "x = 1 +\n");
render_case!(missing_colon_after_if, "if x\n    y = 1\nend\n");
